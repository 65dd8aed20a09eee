package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// KeyRequest is the body of POST /api/councils/:id/keys.
type KeyRequest struct {
	// Key is the public Ed25519 key of the member's own device: 32 bytes,
	// unpadded base64url (crdt.EncodeKey).
	Key string `json:"key"`
}

// addKey serves POST /api/councils/:id/keys: the member adds the key of
// their own device, certified as not custodial, in a record the relay
// signs with the member's custodial key. From then on the member signs
// facts on their device (POST …/records), and may retire the custodial
// key with a record of kind retire-key signed by the new one.
func (s *Server) addKey(c echo.Context) error {
	var req KeyRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	if _, err := crdt.DecodeKey(req.Key); err != nil {
		return invalid("key: %v", err)
	}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, crdt.AddKey(doc, as, req.Key, false, now)
	})
}
