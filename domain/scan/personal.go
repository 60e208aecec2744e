package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/personal"
)

// The personal fields of scan events (the house's address, in Created, ImagesUploaded
// and ProcessingStarted's inputsSnapshot) are stored sealed under the scan owner's key
// (schema version 2 of those types), so that forgetting the owner (destroying the key)
// erases them from every event at once without touching the events or their chain.
//
// In memory, events carry the plaintext in their usual fields. Seal moves it into the
// event's Personal before encoding; Open brings it back after decoding, or puts
// personal.Erased there when the owner was forgotten. Decode alone leaves sealed
// fields empty and Personal set.

// personalFields is what one event's sealed box holds.
type personalFields struct {
	Address *string `json:"address,omitempty"`
}

// openAddress writes the opened address over the clear field, if the box held one.
func (f personalFields) openAddress(addr *string) {
	if f.Address != nil {
		*addr = *f.Address
	}
}

// Seal returns e with its personal fields sealed under owner's key (the scan's user),
// ready for Encode. Events without personal data are returned as they are.
func Seal(ctx context.Context, c *personal.Cipher, owner string, e Event) (Event, error) {
	switch v := e.(type) {
	case Created:
		err := sealAddress(ctx, c, owner, &v.Address, &v.Personal)
		return v, err
	case ImagesUploaded:
		err := sealAddress(ctx, c, owner, &v.Address, &v.Personal)
		return v, err
	case ProcessingStarted:
		if v.InputsSnapshot.Address == nil {
			return v, nil
		}
		s, err := c.Seal(ctx, owner, personalFields{Address: v.InputsSnapshot.Address})
		v.InputsSnapshot.Address, v.Personal = nil, s
		return v, err
	}
	return e, nil
}

// sealAddress moves a clear address into sealed, leaving the address empty; an empty
// address seals nothing.
func sealAddress(ctx context.Context, c *personal.Cipher, owner string, addr *string, sealed **personal.Sealed) error {
	if *addr == "" {
		return nil
	}
	s, err := c.Seal(ctx, owner, personalFields{Address: addr})
	*addr, *sealed = "", s
	return err
}

// unsealed reports whether e carries personal data in clear.
func unsealed(e Event) bool {
	switch v := e.(type) {
	case Created:
		return v.Address != ""
	case ImagesUploaded:
		return v.Address != ""
	case ProcessingStarted:
		return v.InputsSnapshot.Address != nil
	}
	return false
}

// Open returns e with its sealed personal fields opened, or personal.Erased in them
// when their owner was forgotten. Personal is cleared, so an opened event looks like
// the one that was sealed.
func Open(ctx context.Context, c *personal.Cipher, e Event) (Event, error) {
	sealed := personalOf(e)
	if sealed == nil {
		return e, nil
	}
	var f personalFields
	if err := c.Open(ctx, sealed, &f); errors.Is(err, personal.ErrErased) {
		erased := personal.Erased
		f.Address = &erased
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", e.EventType(), err)
	}
	switch v := e.(type) {
	case Created:
		v.Personal = nil
		f.openAddress(&v.Address)
		return v, nil
	case ImagesUploaded:
		v.Personal = nil
		f.openAddress(&v.Address)
		return v, nil
	case ProcessingStarted:
		v.Personal = nil
		v.InputsSnapshot.Address = f.Address
		return v, nil
	}
	return e, nil
}

// movePersonal is the upcaster step shared by the three types whose personal fields
// became sealed in version 2: the plaintext address found by take moves into
// personal.plain, which only upcast events have (nothing is encrypted on read).
func movePersonal(data []byte, owner func(map[string]json.RawMessage) string,
	take func(map[string]json.RawMessage) (json.RawMessage, error)) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	addr, err := take(m)
	if err != nil {
		return nil, err
	}
	var s string
	if addr != nil {
		if err := json.Unmarshal(addr, &s); err != nil {
			return nil, err
		}
	}
	if s != "" {
		plain, err := json.Marshal(personalFields{Address: &s})
		if err != nil {
			return nil, err
		}
		p, err := json.Marshal(personal.Sealed{Owner: owner(m), Plain: plain})
		if err != nil {
			return nil, err
		}
		m["personal"] = p
	}
	return json.Marshal(m)
}

func noOwner(map[string]json.RawMessage) string { return "" }

func topAddress(m map[string]json.RawMessage) (json.RawMessage, error) {
	a := m["address"]
	delete(m, "address")
	return a, nil
}

// upcastCreatedV1: version 1 had the address in clear at "address".
func upcastCreatedV1(data []byte) ([]byte, error) {
	return movePersonal(data, func(m map[string]json.RawMessage) string {
		var u string
		_ = json.Unmarshal(m["userId"], &u)
		return u
	}, topAddress)
}

// upcastImagesUploadedV1: version 1 had the address in clear at "address".
func upcastImagesUploadedV1(data []byte) ([]byte, error) {
	return movePersonal(data, noOwner, topAddress)
}

// upcastProcessingStartedV1: version 1 had the address in clear at
// inputsSnapshot.address; version 2 stores null there.
func upcastProcessingStartedV1(data []byte) ([]byte, error) {
	return movePersonal(data, noOwner, func(m map[string]json.RawMessage) (json.RawMessage, error) {
		var snap map[string]json.RawMessage
		if raw, ok := m["inputsSnapshot"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &snap); err != nil {
				return nil, err
			}
		}
		if snap == nil {
			return nil, nil
		}
		a := snap["address"]
		snap["address"] = json.RawMessage("null")
		b, err := json.Marshal(snap)
		if err != nil {
			return nil, err
		}
		m["inputsSnapshot"] = b
		if string(a) == "null" {
			return nil, nil
		}
		return a, nil
	})
}

// HoldsPlaintext reports whether r is a scan event written before personal fields were
// sealed that still carries one in clear: what `scanledger audit plaintext` lists.
func HoldsPlaintext(r event.Recorded) bool {
	if r.SchemaVersion >= 2 {
		return false
	}
	switch r.Type { // only these carry personal fields: the rest need not be decoded
	case TypeCreated, TypeImagesUploaded, TypeProcessingStarted:
	default:
		return false
	}
	e, err := Decode(r)
	if err != nil {
		return false
	}
	if v, ok := e.(ProcessingStarted); ok && v.InputsSnapshot.Address != nil && *v.InputsSnapshot.Address == "" {
		return false // an empty address is no personal data to list
	}
	return unsealed(e)
}
