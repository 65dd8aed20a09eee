package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// ProduceRequest is the body of POST /api/councils/:id/offers and
// POST /api/councils/:id/needs.
type ProduceRequest struct {
	// ID is an optional explicit id; random if empty.
	ID       string  `json:"id,omitempty"`
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"` // > 0
	Unit     string  `json:"unit"`
	// From and Until optionally bound when the produce is available or needed.
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	Note  string     `json:"note,omitempty"`
}

func (r ProduceRequest) spec() crdt.ProduceSpec {
	spec := crdt.ProduceSpec{ID: r.ID, Item: r.Item, Quantity: r.Quantity, Unit: r.Unit, Note: r.Note}
	if r.From != nil {
		spec.From = *r.From
	}
	if r.Until != nil {
		spec.Until = *r.Until
	}
	return spec
}

// PledgeRequest is the body of POST /api/councils/:id/pledges.
type PledgeRequest struct {
	// ID is an optional explicit id; random if empty.
	ID string `json:"id,omitempty"`
	// Need is the need pledged against, in this council.
	Need string `json:"need"`
	// Offer optionally names the offer the produce comes from.
	Offer string `json:"offer,omitempty"`
	// Council is the documentId of the pledging council when it is not
	// this one; the pledge is then made by a member of that council. Over
	// REST a member acts only in their own council, so Council must be
	// empty or this council's id: a pledge from another council is
	// written by a client of that council's member, syncing this document.
	Council  string  `json:"council,omitempty"`
	Quantity float64 `json:"quantity"` // > 0, in the need's unit
	// Unit, if set, must be the need's unit.
	Unit string `json:"unit,omitempty"`
}

// postOffer serves POST /api/councils/:id/offers.
func (s *Server) postOffer(c echo.Context) error { return s.postProduce(c, crdt.PostOffer) }

// postNeed serves POST /api/councils/:id/needs.
func (s *Server) postNeed(c echo.Context) error { return s.postProduce(c, crdt.PostNeed) }

func (s *Server) postProduce(c echo.Context, post func(*automerge.Doc, crdt.Signer, crdt.ProduceSpec, time.Time) (string, error)) error {
	var req ProduceRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		id, err := post(doc, as, req.spec(), now)
		return Created{ID: id}, err
	})
}

// withdrawOffer serves POST /api/councils/:id/offers/:offer/withdraw.
func (s *Server) withdrawOffer(c echo.Context) error {
	return s.withdrawProduce(c, c.Param("offer"), crdt.WithdrawOffer)
}

// withdrawNeed serves POST /api/councils/:id/needs/:need/withdraw.
func (s *Server) withdrawNeed(c echo.Context) error {
	return s.withdrawProduce(c, c.Param("need"), crdt.WithdrawNeed)
}

func (s *Server) withdrawProduce(c echo.Context, id string, withdraw func(*automerge.Doc, crdt.Signer, string, time.Time) error) error {
	if err := bind(c, &struct{}{}, true); err != nil {
		return err
	}
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, withdraw(doc, as, id, now)
	})
}

// pledge serves POST /api/councils/:id/pledges.
func (s *Server) pledge(c echo.Context) error {
	var req PledgeRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	council, err := documentIDArg("council", req.Council, true)
	if err != nil {
		return err
	}
	if here, _ := councilID(c); council == string(here) {
		council = ""
	}
	if council != "" {
		return &Error{Code: CodeForbidden, Message: "council: your token acts in this council only; a pledge from another council is made by a member of that council"}
	}
	spec := crdt.PledgeSpec{ID: req.ID, Need: req.Need, Offer: req.Offer, Council: council, Quantity: req.Quantity, Unit: req.Unit}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		id, err := crdt.MakePledge(doc, as, spec, now)
		return Created{ID: id}, err
	})
}
