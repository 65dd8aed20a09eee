package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// MinutesRequest is the body of POST /api/councils/:id/minutes.
type MinutesRequest struct {
	// ID is an optional explicit id; random if empty.
	ID    string `json:"id,omitempty"`
	Title string `json:"title"`
	Notes string `json:"notes,omitempty"`
}

// EditMinutesRequest is the body of PATCH /api/councils/:id/minutes/:minutes.
type EditMinutesRequest struct {
	// Notes is the whole new text; the relay writes the one splice that
	// turns the current notes into it.
	Notes string `json:"notes"`
}

// startMinutes serves POST /api/councils/:id/minutes: the minutes of a
// meeting held now.
func (s *Server) startMinutes(c echo.Context) error {
	var req MinutesRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		id, err := crdt.StartMinutes(doc, as, crdt.MinutesSpec{ID: req.ID, Title: req.Title, Notes: req.Notes}, now)
		return Created{ID: id}, err
	})
}

// editMinutes serves PATCH /api/councils/:id/minutes/:minutes.
func (s *Server) editMinutes(c echo.Context) error {
	var req EditMinutesRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	minutes := c.Param("minutes")
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		view, _ := s.readCouncil(as.Council, doc, now)
		current := ""
		for _, m := range view.Minutes {
			if m.ID == minutes {
				current = m.Notes
			}
		}
		return Created{}, crdt.EditMinutes(doc, as, minutes, crdt.TextEditBetween(current, req.Notes), now)
	})
}
