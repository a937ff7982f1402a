// Package profiles decides, per client, which boot entry is the default, how long the menu
// waits and which extra kernel arguments apply: from a JSON profiles file (matched by MAC,
// MAC prefix, architecture or static-lease group) and from durable boot-once settings (an
// entry used for the next boot only). It also keeps the dashboard's write token.
//
// The package knows nothing of the image catalogue: entries are names. It imports only the
// standard library.
package profiles
