package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// Mandates are made by mandate proposals (POST .../proposals with kind
// mandate) and recalled by recall proposals (kind recall, subject = the
// mandate id); the routes here are the delegate's own acts.

// ReportRequest is the body of POST /api/councils/:id/mandates/:mandate/reports.
type ReportRequest struct {
	Text string `json:"text"`
}

// report serves POST /api/councils/:id/mandates/:mandate/reports: the
// delegate reports to the council that sent them.
func (s *Server) report(c echo.Context) error {
	var req ReportRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	mandate := c.Param("mandate")
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, crdt.SubmitReport(doc, as, mandate, req.Text, now)
	})
}

// resign serves POST /api/councils/:id/mandates/:mandate/resign.
func (s *Server) resign(c echo.Context) error {
	return s.delegateAct(c, crdt.Resign)
}

// complete serves POST /api/councils/:id/mandates/:mandate/complete.
func (s *Server) complete(c echo.Context) error {
	return s.delegateAct(c, crdt.Complete)
}

// delegateAct runs an operation of the mandate's delegate that takes no
// more than who acts.
func (s *Server) delegateAct(c echo.Context, op func(doc *automerge.Doc, as crdt.Signer, mandateID string, at time.Time) error) error {
	if err := bind(c, &struct{}{}, true); err != nil {
		return err
	}
	mandate := c.Param("mandate")
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, op(doc, as, mandate, now)
	})
}
