package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/middleware"
)

// Internal names of the formats, lower-cased from the configuration.
const (
	formatV1          = config.FormatV1
	formatV2          = config.FormatV2
	formatCloudEvents = config.FormatCloudEvents
)

// recorder turns changes into events (meta's event hook) and decides
// which endpoints want each.
type recorder struct {
	endpoints  []config.Endpoint // enabled ones only
	references bool
	source     Source
	now        func() time.Time
}

// wantsPulls reports whether some endpoint takes pull events; when none
// does, pulls are not recorded at all.
func (r *recorder) wantsPulls() bool {
	for _, e := range r.endpoints {
		if !ignoresAction(e, meta.ActionPull) {
			return true
		}
	}
	return false
}

// events implements meta.EventHook.
func (r *recorder) events(ctx context.Context, changes []meta.Change) []meta.OutboxEvent {
	req := requestFrom(ctx)
	actor := middleware.User(ctx)
	out := make([]meta.OutboxEvent, 0, len(changes))
	for _, c := range changes {
		ev := r.event(req, actor, c)
		var eps []string
		for _, e := range r.endpoints {
			if wants(e, ev, req.method) {
				eps = append(eps, e.Name)
			}
		}
		if len(eps) == 0 {
			continue
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			continue // cannot happen: the event holds strings and numbers only
		}
		out = append(out, meta.OutboxEvent{ID: ev.ID, Repo: c.Repo, Action: ev.Action, Payload: payload,
			Endpoints: eps, CreatedAt: ev.Timestamp})
	}
	return out
}

// event is the Event distribution would send for c.
func (r *recorder) event(req *requestInfo, actor string, c meta.Change) Event {
	ev := Event{
		ID: newEventID(), Timestamp: r.now().UTC(), Action: c.Action,
		Request: Request{ID: req.id, Addr: req.addr, Host: req.host, Method: req.method, UserAgent: req.userAgent},
		Actor:   Actor{Name: actor},
		Source:  r.source,
	}
	t := &ev.Target
	t.Repository = c.Repo
	switch {
	case c.Kind == meta.KindTag:
		t.Tag = c.Tag // a tag deletion names the tag only
	case c.Action == meta.ActionDelete:
		t.Digest = c.Digest.String() // a deletion names the digest only
	default:
		t.MediaType, t.Size, t.Length, t.Digest, t.Tag = c.MediaType, c.Size, c.Size, c.Digest.String(), c.Tag
		if c.Kind == meta.KindBlob && t.MediaType == "" {
			t.MediaType = blobMediaType
		}
		t.URL = contentURL(req, c)
		if c.Action == meta.ActionMount {
			t.FromRepository = req.from
		}
		if r.references && c.Kind == meta.KindManifest && c.Action == meta.ActionPush {
			t.References = manifestReferences(c.Payload)
		}
	}
	return ev
}

// contentURL is the content's address on the registry as the client
// reached it.
func contentURL(req *requestInfo, c meta.Change) string {
	if req.host == "" || c.Digest == "" {
		return ""
	}
	kind := "manifests"
	if c.Kind == meta.KindBlob {
		kind = "blobs"
	}
	return req.scheme + "://" + req.host + "/v2/" + c.Repo + "/" + kind + "/" + c.Digest.String()
}

// manifestReferences lists what a manifest references: an image's config
// and layers, an index's manifests.
func manifestReferences(payload []byte) []Descriptor {
	var m struct {
		Config    *Descriptor  `json:"config"`
		Layers    []Descriptor `json:"layers"`
		Manifests []Descriptor `json:"manifests"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	var out []Descriptor
	if m.Config != nil && m.Config.Digest != "" {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	return append(out, m.Manifests...)
}

// wants reports whether endpoint e takes ev: not an ignored action or
// media type, and not the pull of a HEAD request when it skips those.
func wants(e config.Endpoint, ev Event, method string) bool {
	if ignoresAction(e, ev.Action) {
		return false
	}
	if ev.Action == meta.ActionPull && e.SkipHeadPulls && method == "HEAD" {
		return false
	}
	mt := ev.Target.MediaType
	if mt == "" {
		return true
	}
	return !slices.Contains(e.IgnoredMediaTypes, mt) && !slices.Contains(e.Ignore.MediaTypes, mt)
}

func ignoresAction(e config.Endpoint, action string) bool {
	for _, a := range e.Ignore.Actions {
		if strings.EqualFold(a, action) {
			return true
		}
	}
	return false
}

// newEventID is a random (version 4) UUID, as distribution's event ids are.
func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
