package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/veche-sync/veche/server/wire"
)

// Handshake errors.
var (
	// ErrHandshake is wrapped by every handshake failure.
	ErrHandshake = errors.New("handshake failed")
	// ErrUnsupportedVersion means the two sides share no protocol version.
	ErrUnsupportedVersion = errors.New("unsupported protocol version")
)

// readHandshake reads the first message of the connection, bounded by the
// handshake timeout.
func (pe *peer) readHandshake(ctx context.Context) (wire.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, pe.relay.opts.HandshakeTimeout)
	defer cancel()
	frame, err := pe.conn.ReadFrame(ctx)
	if err != nil {
		if errors.Is(err, ErrTextFrame) || errors.Is(err, ErrFrameTooLarge) {
			pe.refuseFrame(err)
		}
		return wire.Message{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	msg, err := wire.Decode(frame, pe.relay.opts.MaxFrameSize)
	if err != nil {
		err = fmt.Errorf("%w: malformed message: %w", ErrHandshake, err)
		pe.relay.metrics.Refused(RefusedMalformed)
		pe.protocolError(err.Error())
		return wire.Message{}, err
	}
	pe.relay.metrics.MessageReceived(MessageTypeLabel(msg.Type), len(frame))
	return msg, nil
}

// acceptHandshake waits for the peer's join and answers with peer, or with
// error when no protocol version fits.
func (pe *peer) acceptHandshake(ctx context.Context) error {
	msg, err := pe.readHandshake(ctx)
	if err != nil {
		return err
	}
	if msg.Type != wire.TypeJoin {
		err := fmt.Errorf("%w: expected join, got %q", ErrHandshake, msg.Type)
		pe.protocolError(err.Error())
		return err
	}
	if msg.SenderID == "" {
		err := fmt.Errorf("%w: join without senderId", ErrHandshake)
		pe.protocolError(err.Error())
		return err
	}
	pe.id = msg.SenderID
	if _, ok := wire.SelectProtocolVersion(msg.SupportedProtocolVersions); !ok {
		err := fmt.Errorf("%w: %w: peer supports %q, relay supports %q",
			ErrHandshake, ErrUnsupportedVersion, msg.SupportedProtocolVersions, wire.ProtocolVersion)
		pe.protocolError(err.Error())
		return err
	}
	if err := pe.adopt(msg); err != nil {
		pe.protocolError(err.Error())
		return err
	}
	pe.send(wire.Message{
		Type:                    wire.TypePeer,
		PeerMetadata:            pe.relay.metadata(),
		SelectedProtocolVersion: wire.ProtocolVersion,
	})
	pe.log().Info("peer joined", "peer", pe.id, "storage", pe.meta.StorageID, "ephemeral", pe.ephemeral)
	return nil
}

// dialHandshake sends join and waits for the other relay's peer message.
func (pe *peer) dialHandshake(ctx context.Context) error {
	pe.send(wire.Message{
		Type:                      wire.TypeJoin,
		PeerMetadata:              pe.relay.metadata(),
		SupportedProtocolVersions: []string{wire.ProtocolVersion},
	})
	msg, err := pe.readHandshake(ctx)
	if err != nil {
		return err
	}
	switch msg.Type {
	case wire.TypePeer:
	case wire.TypeError:
		return fmt.Errorf("%w: refused by the other side: %s", ErrHandshake, msg.ErrorMessage)
	default:
		err := fmt.Errorf("%w: expected peer, got %q", ErrHandshake, msg.Type)
		pe.protocolError(err.Error())
		return err
	}
	if msg.SelectedProtocolVersion != wire.ProtocolVersion {
		err := fmt.Errorf("%w: %w: other side selected %q", ErrHandshake, ErrUnsupportedVersion, msg.SelectedProtocolVersion)
		pe.protocolError(err.Error())
		return err
	}
	if msg.SenderID == "" {
		err := fmt.Errorf("%w: peer message without senderId", ErrHandshake)
		pe.protocolError(err.Error())
		return err
	}
	pe.id = msg.SenderID
	if err := pe.adopt(msg); err != nil {
		pe.protocolError(err.Error())
		return err
	}
	pe.log().Info("joined relay", "peer", pe.id, "storage", pe.meta.StorageID)
	return nil
}

// handshakeFailure classifies why the handshake ended in err.
func (pe *peer) handshakeFailure(err error) HandshakeFailure {
	switch {
	case errors.Is(err, ErrUnsupportedVersion):
		return HandshakeVersion
	case errors.Is(err, context.DeadlineExceeded):
		return HandshakeTimeout
	case pe.erred.Load():
		return HandshakeProtocol
	default:
		return HandshakeClosed
	}
}

// adopt records the peer's identity from its handshake message; it fails
// when another principal's connection speaks as the same senderId.
func (pe *peer) adopt(msg wire.Message) error {
	if msg.PeerMetadata != nil {
		pe.meta = *msg.PeerMetadata
		pe.ephemeral = msg.PeerMetadata.IsEphemeral
	} else {
		pe.ephemeral = true // nothing to key its sync state by
	}
	return pe.relay.bindPeerID(pe, pe.id)
}

// metadata is what the relay tells peers about itself.
func (r *Relay) metadata() *wire.PeerMetadata {
	return &wire.PeerMetadata{StorageID: r.opts.StorageID, IsEphemeral: false}
}
