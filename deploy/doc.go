// Package deploy holds what installs a veche relay on a machine: the
// systemd unit (veche.service) and the container image (Dockerfile). It
// has no code; its tests check both files as far as a machine without a
// running systemd or Docker engine allows (systemd-analyze verify and
// security; buildkit's own Dockerfile parser and linter), and run the
// README's "Run a relay" commands.
package deploy
