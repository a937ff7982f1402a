// Package dhcpd is pxe-edge's DHCP server logic: the address pool, static reservations
// (PyPXE's file format), the full-DHCP and ProxyDHCP replies (port 67 and the port-4011
// service), the decision to ARP-probe an address before it is offered, rogue server
// warnings and per-MAC rate limits. It is logic only: it opens no socket, so all of it is
// testable on messages (see ExampleServer_Handle).
//
// It sits above pkg/rawdhcp (the link layer: wire codec, the DHCP socket, the ARP prober,
// the watch for other servers and the auto-mode detection probe), pkg/lease (durable lease
// store) and pkg/boot (the boot part of a reply) and below the daemon, which builds a
// Config, calls New, wires the link layer in and hands the Server to rawdhcp.Server as its
// Handler (see the package example).
//
// # Wiring
//
//   - New(Config) validates the configuration (errors name the flag: "dhcp-begin: …").
//   - SetProber(p) gives it an ARP prober (rawdhcp.OpenARPProber on the served interface);
//     SawServer is the callback for rawdhcp.ServerWatch.Run. The caller owns both sockets
//     and reopens them when the interface is created again (the daemon's linkSockets).
//   - Server implements rawdhcp.Handler. SetReplier(conn) lets DISCOVERs that need an ARP
//     probe finish on their own goroutine (at most 64 at once) instead of holding a serve
//     loop worker for ProbeWait.
//   - rawdhcp.Detect(ctx, ifname, timeout) is the --dhcp-auto probe; SetMode switches
//     full/proxy at run time; Pause/Resume stop answering (carrier loss).
//   - LoadReservations(path) reads --static-config; SetReservations installs a new set
//     (SIGHUP). SetBoot swaps the boot policy's configuration (a changed boot map) in place:
//     leases, offers, counters and the prober stay.
//   - Logs: one info line per reply sent (OFFER, ACK, NAK, PROXY-OFFER, PROXY-ACK: MAC,
//     address, client kind, boot file), a detail line per request at LevelVerbose, drops at
//     debug (each kind at most once per 10 s); nothing is built when the level is off.
//   - Leases (a shared snapshot), Lease(ip), Pool, Rogues and Stats feed the dashboard and
//     metrics; DHCP events (with the client's facts from the one boot decision per packet,
//     events.Machine) and LeaseChanged events go to Config.Bus.
//
// # Behaviour
//
// Address choice for a DISCOVER, in order: the client's current binding, its reservation,
// the requested address (option 50) if free, a stable FNV-1a hash of its MAC, the first
// free address, then the lease that expired longest ago. Addresses nobody holds a lease on
// are ARP-probed first (answers cached for ProbeCache); one that answers is held out for
// ConflictHold. A DECLINEd address is quarantined for DeclineQuarantine. An exhausted pool
// sends no OFFER and logs at most one warning per WarnInterval, while known clients and
// reservations are still served.
//
// A client is identified by option 61 when it sends one, else by its MAC; reservations
// always follow the MAC. A new lease is durable (lease.Store.Commit) before its ACK leaves;
// a renewal that only moves the expiry uses the store's batched Touch (bounded loss window,
// see pkg/lease). The Pi 3 ROM, which never sends a REQUEST, has a short lease (five
// minutes, at most the lease time) committed at the OFFER (boot.Decision.CommitAtOffer); a
// REQUEST turns it into a full lease, written before the ACK.
//
// Options: 53 and 54 first, then the codes of option 55 in the client's order, then the
// rest; 82 last, echoed unchanged. Lease time (51, 58 = 0.5, 59 = 0.875), mask, router
// and the boot options are always sent; DNS, hostname, domain and broadcast only when
// asked for (or when the client sends no option 55). The boot part (siaddr, file and 67,
// 66, 60, 97, 43, 209) comes from boot.Decide.
package dhcpd
