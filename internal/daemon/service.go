package daemon

import "context"

// service is one server the daemon runs. The daemon holds its services as a list: it starts
// them in list order, reloads them in list order, and stops them in reverse order within one
// grace period. Adding a server means adding one entry to services(), nothing else.
type service interface {
	// Name labels the service in logs and in systemd's status line.
	Name() string
	// Start opens what the service listens on and starts serving in the background. ctx is
	// the service's whole life: when it ends, whatever still runs is cut. An error means the
	// daemon cannot run.
	Start(ctx context.Context) error
	// Reload re-reads what may change without a restart (SIGHUP). An error keeps the
	// previous configuration.
	Reload() error
	// Stop stops taking new work, lets running work finish until ctx ends, cuts the rest and
	// releases everything the service holds. It returns when the service is done.
	Stop(ctx context.Context)
}

// services lists what this configuration runs, in start order. The image catalogue and the
// file and block servers come first (NBD before HTTP, whose status pages report it) and DHCP
// after them, so that a client is offered a boot only once its files can be fetched (and,
// stopping in reverse, DHCP goes quiet before the file servers drain); the link supervisor
// comes last because it resumes DHCP on carrier.
func (d *Daemon) services() []service {
	var l []service
	// The image catalogue comes first: TFTP and HTTP serve it from the moment they listen.
	var img *imagesService
	if d.cfg.UseTFTP || d.cfg.UseHTTP {
		img = &imagesService{d: d}
		l = append(l, img)
	}
	if d.cfg.UseTFTP {
		l = append(l, &tftpService{d: d, images: img})
	}
	if d.cfg.NBDBlockDevice != "" {
		l = append(l, &nbdService{d: d})
	}
	if d.cfg.UseHTTP {
		l = append(l, &httpService{d: d, images: img})
	}
	if d.dhcpOn() {
		l = append(l, &dhcpUnit{d: d, images: img})
	}
	if d.raOn() {
		l = append(l, d.newRA())
	}
	if d.ifname != "" {
		l = append(l, &linkService{d: d})
	}
	return l
}

// stopAll stops services in reverse start order, all within ctx's one deadline. A service
// keeps serving until its turn, so a transfer runs on while the services before it drain.
func stopAll(ctx context.Context, l []service) {
	for i := len(l) - 1; i >= 0; i-- {
		l[i].Stop(ctx)
	}
}

// runner runs one background loop of a service and waits for its end; the zero value is
// ready. It keeps the start-a-goroutine-and-wait pattern in one place for every service.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs fn on a context derived from ctx until stop or ctx's end.
func (r *runner) start(ctx context.Context, fn func(ctx context.Context)) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		fn(ctx)
	}()
}

// stop cancels the loop's context and waits for the loop to return.
func (r *runner) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}
