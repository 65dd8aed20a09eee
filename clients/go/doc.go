// Package client is veche's Go client: the typed API client of a relay's
// council REST API, which the veche command is built on.
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
// # Errors
//
// Every error is an *Error: the relay's {"error":{"code","message"}}
// answers keep their API code (api.CodeNotFound, api.CodeProposalClosed,
// …) and HTTP status; failures that are not answers get the client's own
// codes (CodeUnreachable, CodeBadAnswer, CodeUsage, …). ErrorCode and
// ErrorMessage read any error.
//
// # Concurrency
//
// A Client holds no mutable state: it is safe for concurrent use.
package client
