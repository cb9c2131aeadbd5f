// Package notify sends webhooks: distribution's notifications, with its
// configuration and its envelope, delivered from a durable outbox in the
// metadata database. Events of changes are written by meta in the
// transaction of the change (the Recorder is meta's event hook); pulls
// are written after the response, in batches. A lane per endpoint leases
// the events due, first in line per repository, POSTs them, and records
// every attempt; several nodes share the work through the leases.
package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Media types of the request body.
const (
	// MediaTypeV1 is distribution v2's envelope, the default.
	MediaTypeV1 = "application/vnd.docker.distribution.events.v1+json"
	// MediaTypeV2 is distribution v3's name for the same envelope.
	MediaTypeV2 = "application/vnd.docker.distribution.events.v2+json"
	// MediaTypeCloudEvents is a CloudEvents 1.0 structured-mode event.
	MediaTypeCloudEvents = "application/cloudevents+json"

	// blobMediaType is what distribution reports for a blob's target.
	blobMediaType = "application/octet-stream"
)

// Event is one notification, with distribution's JSON field names and
// order: receivers parse it strictly, so it is byte-compatible with what
// distribution's encoding/json output of the same event would be.
type Event struct {
	ID        string    `json:"id,omitempty"`
	Timestamp time.Time `json:"timestamp,omitempty"`
	Action    string    `json:"action,omitempty"`
	Target    Target    `json:"target,omitempty"`
	Request   Request   `json:"request,omitempty"`
	Actor     Actor     `json:"actor,omitempty"`
	Source    Source    `json:"source,omitempty"`
}

// Descriptor describes content, as in distribution's events.
type Descriptor struct {
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
	Digest    string `json:"digest,omitempty"`
}

// Target is what an event is about.
type Target struct {
	Descriptor
	// Length repeats Size, for receivers written against older events.
	Length         int64        `json:"length,omitempty"`
	Repository     string       `json:"repository,omitempty"`
	FromRepository string       `json:"fromRepository,omitempty"`
	URL            string       `json:"url,omitempty"`
	Tag            string       `json:"tag,omitempty"`
	References     []Descriptor `json:"references,omitempty"`
}

// Request is the HTTP request that caused an event.
type Request struct {
	ID        string `json:"id"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Method    string `json:"method"`
	UserAgent string `json:"useragent"`
}

// Actor is who made the request.
type Actor struct {
	Name string `json:"name,omitempty"`
}

// Source is the wharf node that made the event.
type Source struct {
	Addr       string `json:"addr,omitempty"`
	InstanceID string `json:"instanceID,omitempty"`
}

// Body builds a request body for one stored event payload (an Event's
// JSON) in format, and returns it with its Content-Type.
func Body(format string, payload []byte) ([]byte, string, error) {
	switch format {
	case formatCloudEvents:
		return cloudEvent(payload)
	case formatV2:
		return envelope(payload), MediaTypeV2, nil
	}
	return envelope(payload), MediaTypeV1, nil
}

// envelope wraps one event as distribution does: {"events":[...]}.
func envelope(payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payload) + 13)
	b.WriteString(`{"events":[`)
	b.Write(payload)
	b.WriteString(`]}`)
	return b.Bytes()
}

// cloudEventEnvelope is a CloudEvents 1.0 structured-mode event carrying
// distribution's event as data.
type cloudEventEnvelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// cloudEventType prefixes the action in a CloudEvent's type.
const cloudEventType = "io.github.wharf-registry.event."

func cloudEvent(payload []byte) ([]byte, string, error) {
	var ev Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, "", fmt.Errorf("stored event: %w", err)
	}
	source := "/wharf"
	if ev.Request.Host != "" {
		source = "//" + ev.Request.Host
	}
	b, err := json.Marshal(cloudEventEnvelope{
		SpecVersion: "1.0", ID: ev.ID, Source: source, Type: cloudEventType + ev.Action,
		Subject: ev.Target.Repository, Time: ev.Timestamp, DataContentType: "application/json", Data: payload,
	})
	if err != nil {
		return nil, "", fmt.Errorf("cloudevent: %w", err)
	}
	return b, MediaTypeCloudEvents, nil
}
