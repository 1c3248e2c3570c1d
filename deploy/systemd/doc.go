// Package systemd holds bulwark.service, a hardened systemd unit for
// running Bulwark on a host, and the test that checks it: the unit parses,
// keeps its hardening, runs serve in its state directory, and gives the
// SIGTERM drain (server.shutdown_grace) time to finish before systemd
// kills the process.
//
// Install it as README "Deploy" says. The package has no Go API; it must
// not be imported.
package systemd
