/*
Package wire implements version 1 of the automerge-repo websocket protocol,
byte-compatible with @automerge/automerge-repo 2.x and its websocket network
adapter (checked against npm 2.5.6).

# Frames

Every websocket binary frame carries one CBOR map: one Message. Upstream
encodes with cbor-x (Encoder{useRecords: false, tagUint8Array: false}),
which means:

  - maps have text keys and are always written with a two-byte length
    (0xb9 0x00 n), never in the shortest form;
  - byte arrays (Uint8Array) are plain CBOR byte strings, without a typed
    array tag;
  - an object property whose value is undefined is written as CBOR undefined
    (0xf7): a peer without storage sends peerMetadata
    {storageId: undefined, isEphemeral: true}, and a subscription change with
    nothing to remove sends remove: undefined;
  - numbers are integers when they are whole and fit in 32 bits and float64
    otherwise, so a millisecond timestamp is a float64.

Upstream decodes with cbor-x's default decoder, which ignores keys it does
not use, reads every 8-byte CBOR integer as a BigInt rather than a number,
and rejects indefinite-length byte and text strings. Decode is more lenient
in what it reads: unknown keys are ignored, null and undefined read as
absent, any valid CBOR encoding of a value is accepted, and a message of an
unknown type decodes fine (callers ignore it, for forward compatibility).
Encode is strict in what it writes: a deterministic map with definite
lengths that cbor-x reads back as the same object, leaving out absent fields
instead of writing undefined, and writing a count above 2^32-1 as a float64,
as cbor-x does.

Text frames are not part of the protocol.

# Handshake

The connecting side (upstream's WebSocketClientAdapter) sends

	{type: "join", senderId, peerMetadata: {storageId?, isEphemeral},
	 supportedProtocolVersions: ["1"]}

and the accepting side (upstream's WebSocketServerAdapter) answers

	{type: "peer", senderId, peerMetadata, selectedProtocolVersion: "1", targetId}

or, if no version fits, {type: "error", senderId, message, targetId} and
closes the socket. Upstream's server treats a join without
supportedProtocolVersions as version 1; SelectProtocolVersion does too.
Upstream's README calls the field "metadata" while the code sends
"peerMetadata"; Decode accepts "metadata" when "peerMetadata" is absent.

A join on a socket replaces any earlier socket of the same senderId.
Upstream's server drops any later message whose senderId is not the peer id
that joined on that socket.

# Documents

Per document, after the handshake (every message carries senderId and
targetId):

  - request {documentId, data}: the first Automerge sync message from a peer
    that does not have the document. The answer is sync messages, or
    doc-unavailable if the document cannot be found. Upstream's server may
    send one sync message before doc-unavailable.
  - sync {documentId, data}: an Automerge sync message.
  - doc-unavailable {documentId}: the sender does not have the document and
    none of its peers do either.
  - ephemeral {documentId, data, sessionId, count}: application data (itself
    CBOR-encoded) relayed to every other peer syncing the document, never
    stored. A relay forwards it unchanged except for targetId, so senderId
    stays the original sender's; receivers drop a (senderId, sessionId) whose
    count they have already seen. Clients relay too: a client forwards an
    ephemeral message back to its server with the original senderId, which
    upstream's server then drops by the senderId rule above.
  - remote-subscription-change {add?, remove?}: storage ids whose heads the
    sender wants to be told about (remote heads gossiping, off by default
    upstream).
  - remote-heads-changed {documentId, newHeads: {storageId: {heads,
    timestamp}}}: heads a subscribed-to storage id has for a document.
  - leave {senderId}: sent by early automerge-repo versions; 2.x does not.

A document id is the bs58check encoding (bitcoin alphabet, checksum the
first 4 bytes of SHA-256(SHA-256(payload))) of 16 bytes, a random UUID; its
URL is "automerge:<id>", optionally followed by "#<head>|<head>…".

# Limits

Decode rejects a frame over the frame size limit before looking at it, and
bounds what a frame may hold while checking it is well-formed: nesting depth
16, arrays of at most 1024 elements, maps of at most 1024 pairs, no
duplicate map keys, no NaN or infinite floats, no integer a JavaScript
number cannot hold exactly where a count is expected. Message.Validate
checks that the fields upstream always sends for a type are present and
that document ids are well-formed.
*/
package wire
