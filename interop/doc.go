// Package interop proves that stock automerge-repo clients sync with the
// veche relay, and that the relay is durable before it advertises.
//
// The package has no code of its own: its tests build cmd/veche, run it on a
// loopback port with a temporary data directory, and drive real Node.js
// processes that use the npm packages @automerge/automerge-repo and
// @automerge/automerge-repo-network-websocket (the npm project and its
// scripts are in interop/testdata, where the go tool does not look). Each client prints JSON lines that the tests assert on.
//
// Run them with
//
//	make deps && go test ./interop/ -v
//
// Environment:
//
//	VECHE_INTEROP_TARGET=reference   run against testdata/reference-server.mjs,
//	                                 the upstream sync server wiring, instead of
//	                                 the Go relay (the default target, "veche")
//	VECHE_INTEROP_SEED=N             seed of the crash test's random kill moments
//	VECHE_INTEROP_CRASH_ITERATIONS=N how many crashes the crash test makes (15)
package interop
