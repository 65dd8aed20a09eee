// Package api is veche's HTTP surface, built on echo: the websocket
// endpoint that stock automerge-repo clients connect to, health checks,
// and the council REST API under /api/councils, described by the OpenAPI
// document served at /api/openapi.json. It authenticates requests and
// upgrades connections; everything about syncing is the relay's business
// (package server), everything about council documents is package crdt's.
//
// A REST write runs one crdt operation on the council's document inside
// its synchronizer (server.Relay.Change), at the relay's clock: the
// change is committed durably before the answer and reaches every
// connected automerge-repo peer through the normal sync path. A refused
// write changes nothing. Every error is an *Error, rendered as
// {"error":{"code","message"}}; errors.go maps codes to HTTP statuses.
//
// Every request but the health check, the OpenAPI document and accepting
// an invite proves a principal with a bearer token (auth.go). Council
// routes need the token of a member of that council, who is the acting
// member of every write; to anyone else a council is answered 404, as if
// it did not exist. The operator creates councils, and gets each one's
// founding member token to hand over, but reads no council.
package api
