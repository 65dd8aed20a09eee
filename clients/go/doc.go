// Package client is veche's Go client, with two faces: the typed API
// client of a relay's REST API, which the veche command is built on, and
// the offline replica, which lets a field laptop run a council for weeks
// with no network.
//
// # API client
//
// A Client calls one relay as the principal its token names. Its methods
// take and return package api's request and answer types (the very types
// the relay decodes and encodes), so a renamed field breaks the build of
// every caller rather than a user at run time:
//
//	c, _ := client.New("http://localhost:8080", token, nil)
//	ans, err := c.Vote(ctx, council, proposal, api.VoteRequest{Choice: crdt.Yes})
//
// # Offline replica
//
// A Replica is a relay that does not listen (DESIGN.md §1): the same
// engine as `veche serve` (server.Relay) on its own bbolt store. It lives
// in a Home, the member's private config directory (mode 0700, files
// 0600): the device key, one Membership per council and relay (member id,
// token), and the replica's store.
//
// Data path. Replica.Client returns a Client whose transport is the
// replica's own API, served in process: the same handlers, checks, errors
// and answers as a relay's, with no network; each write is one Automerge
// change committed durably to the replica's store. Replica.Sync dials the
// membership's relay over the automerge-repo websocket protocol with the
// member's token, offers the council (server.SharePolicy: a sync message,
// or a request for a council the replica does not hold yet), and returns
// once the relay's announced heads (server.SyncObserver) equal the
// replica's: both hold the same document. Sync state is persisted on both
// sides (each announces its store's id), so the next sync costs a round
// trip and what changed. Replica.Run keeps a link to every membership's
// relay, redialing with Backoff while one is away. Bundles (package
// server/bundle) carry changes by hand: Replica.ExportBundle and
// Replica.ImportBundle, Client.ExportBundle and Client.ImportBundle.
//
// # Errors
//
// Every error is an *Error: the relay's {"error":{"code","message"}}
// answers keep their API code (api.CodeNotFound, api.CodeProposalClosed,
// …) and HTTP status, and so do the same refusals from a replica's own
// API; failures that are not answers get the client's own codes
// (CodeUnreachable, CodeBadAnswer, CodeUsage, CodeOffline). ErrorCode and
// ErrorMessage read any error.
//
// # Concurrency
//
// A Client holds no mutable state and is safe for concurrent use. A
// Replica is safe for concurrent use; its store is opened by one process
// at a time (a second gets a CodeUsage error saying so). Its links table
// (links.mu) is only held to record what a relay announced and to read it
// back; it is never held while calling into the relay engine, whose
// observer callbacks take it from inside a document's synchronizer.
package client
