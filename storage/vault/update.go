package vault

import (
	"errors"
	"fmt"
	"slices"
)

// ErrExpiryRemoved: UpdateMessage was asked to make a message that can
// expire into one that cannot. Its key stays in a key slot until it
// expires or is deleted; a message never becomes permanent again.
var ErrExpiryRemoved = errors.New("vault: cannot remove a message's expiry")

// UpdateMessage replaces the Body, Time, Expires and BurnOnRead of message
// m.Seq of m.Conversation (delivery states, the start of a burn-on-read
// countdown), and adds to the message's attachments those of
// m.Attachments it does not have yet (a file that arrived after its
// message): the message becomes their owner, as with AddMessage.
// Attachments are never removed this way; DeleteAttachment does that. The message keeps its sequence number and its key slot; a
// message that could not expire and now can is moved under a fresh slot,
// and its expiry index entry follows Expires. ErrNotFound if the message
// is gone or past its expiry; ErrExpiryRemoved if m would no longer expire
// while the stored message does.
func (t *Tx) UpdateMessage(m Message) error {
	if !t.writable {
		return ErrReadOnly
	}
	old, slot, err := t.message(m.Conversation, m.Seq)
	if err != nil {
		return fmt.Errorf("vault: update message: %w", err)
	}
	if !old.Expires.IsZero() && !old.Expires.After(t.v.now()) {
		return fmt.Errorf("vault: update message: %w (expired)", ErrNotFound)
	}
	if old.canExpire() && !m.canExpire() {
		return ErrExpiryRemoved
	}
	// The message keeps its attachments, gains those newly listed in m
	// (it becomes their owner), and keeps its place in time order.
	var added []AttachmentID
	for _, id := range m.Attachments {
		if !slices.Contains(old.Attachments, id) && !slices.Contains(added, id) {
			added = append(added, id)
		}
	}
	if err := t.own(m.Conversation, m.Seq, added); err != nil {
		return fmt.Errorf("vault: update message: %w", err)
	}
	m.Attachments = append(slices.Clip(old.Attachments), added...)
	order, _, err := t.orderAt(m.Conversation, m.Seq)
	if err != nil {
		return fmt.Errorf("vault: update message: %w", err)
	}
	if !m.canExpire() {
		return t.setEntry(m.Conversation, m.Seq, pageEntry{Slot: entryInline, Order: order, Payload: appendMessage(nil, &m, order)})
	}
	var key []byte
	if slot >= 0 {
		key, err = t.v.ks.Get(uint32(slot))
	} else {
		if t.v.shredPending.Load() {
			return fmt.Errorf("vault: update message: %w", errShredPending)
		}
		var s uint32
		s, key, err = t.v.ks.Alloc()
		if err == nil {
			t.allocs = append(t.allocs, s)
			slot = int64(s)
		}
	}
	if err != nil {
		return fmt.Errorf("vault: update message: %w", err)
	}
	defer clear(key)
	e := pageEntry{Slot: entrySlot0 + uint64(slot), Order: order, Payload: sealMessage(key, msgAD(nil, m.Conversation, m.Seq), appendMessage(nil, &m, order))}
	if err := t.setEntry(m.Conversation, m.Seq, e); err != nil {
		return err
	}
	x := expiryEntry{Conversation: m.Conversation, Seq: m.Seq, Expires: m.Expires, Slot: uint32(slot)}
	if err := t.put(bucketExpiry, tExpiry, m.Conversation, m.Seq, x.encode()); err != nil {
		return err
	}
	if n := timeToNanos(m.Expires); n != 0 && (t.minDue == 0 || n < t.minDue) {
		t.minDue = n
	}
	return nil
}

// UpdateMessage replaces a stored message's contents and expiry; see
// Tx.UpdateMessage.
func (v *Vault) UpdateMessage(m Message) error {
	return v.Update(func(t *Tx) error { return t.UpdateMessage(m) })
}
