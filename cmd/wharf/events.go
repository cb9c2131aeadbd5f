package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/server"
)

// eventsCmd is `wharf events list|show|redeliver`: the webhooks' event
// log, which is also the audit trail of pushes and deletions, with each
// endpoint's delivery state and attempts.
func eventsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "list":
		return eventsList(args[1:], stdout, stderr)
	case "show":
		return eventsShow(args[1:], stdout, stderr)
	case "redeliver":
		return eventsRedeliver(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown events command %q\n%s", args[0], usage)
	return errUsage
}

// openEventStore opens the stores of the configuration at path.
func openEventStore(ctx context.Context, path string, stderr io.Writer) (meta.EventStore, func(), error) {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return nil, nil, err
	}
	_, md, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	es, ok := md.(meta.EventStore)
	if !ok {
		md.Close()
		return nil, nil, errors.New("this metadata store keeps no events")
	}
	return es, func() { md.Close() }, nil
}

func eventsList(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", "", "only events of this repository")
	state := fs.String("state", "", "only events with a delivery in this state: pending, delivered or dead")
	limit := fs.Int("n", 50, "at most this many events, newest first")
	before := fs.Int64("before", 0, "only events older than this sequence number (paging)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: wharf events list [--repo R] [--state S] [--n N] [--before SEQ] CONFIG")
		return errUsage
	}
	f := meta.EventFilter{Repo: *repo, Limit: *limit, Before: *before}
	if *state != "" {
		st, ok := map[string]meta.DeliveryState{"pending": meta.DeliveryPending, "delivered": meta.DeliveryDelivered, "dead": meta.DeliveryDead}[*state]
		if !ok {
			fmt.Fprintln(stderr, "--state must be pending, delivered or dead")
			return errUsage
		}
		f.State = &st
	}
	ctx := context.Background()
	es, closeStore, err := openEventStore(ctx, fs.Arg(0), stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	evs, err := es.ListEvents(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tID\tACTION\tTARGET\tACTOR\tDELIVERIES")
	for _, ev := range evs {
		target, actor := summarize(ev.Payload)
		var ds []string
		for _, d := range ev.Deliveries {
			ds = append(ds, fmt.Sprintf("%s:%s(%d)", d.Endpoint, d.State, d.Attempts))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.CreatedAt.UTC().Format(time.RFC3339), ev.ID, ev.Action,
			target, actor, strings.Join(ds, " "))
	}
	return tw.Flush()
}

// summarize reads an event's target (repository[:tag][@digest]) and actor.
func summarize(payload []byte) (string, string) {
	var ev struct {
		Target struct{ Repository, Tag, Digest string }
		Actor  struct{ Name string }
	}
	json.Unmarshal(payload, &ev)
	s := ev.Target.Repository
	if ev.Target.Tag != "" {
		s += ":" + ev.Target.Tag
	}
	if ev.Target.Digest != "" {
		s += "@" + ev.Target.Digest
	}
	actor := ev.Actor.Name
	if actor == "" {
		actor = "-"
	}
	return s, actor
}

func eventsShow(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: wharf events show EVENT_ID CONFIG")
		return errUsage
	}
	ctx := context.Background()
	es, closeStore, err := openEventStore(ctx, args[1], stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	ev, err := es.GetEvent(ctx, args[0])
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, ev.Payload, "", "  ") != nil {
		pretty.Write(ev.Payload)
	}
	fmt.Fprintf(stdout, "event %s (seq %d), %s\n%s\n", ev.ID, ev.Seq, ev.CreatedAt.UTC().Format(time.RFC3339Nano), pretty.String())
	for _, d := range ev.Deliveries {
		fmt.Fprintf(stdout, "\nendpoint %s: %s after %d attempts", d.Endpoint, d.State, d.Attempts)
		switch {
		case !d.DoneAt.IsZero():
			fmt.Fprintf(stdout, ", %s", d.DoneAt.UTC().Format(time.RFC3339Nano))
		case d.State == meta.DeliveryPending:
			fmt.Fprintf(stdout, ", next try %s", d.NextAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(stdout)
		for i, a := range d.Tries {
			status := "-"
			if a.Status != 0 {
				status = fmt.Sprint(a.Status)
			}
			fmt.Fprintf(stdout, "  #%d %s status %s in %s on %s %s\n", i+1, a.At.UTC().Format(time.RFC3339Nano), status, a.Duration, a.Node, a.Err)
		}
	}
	return nil
}

func eventsRedeliver(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events redeliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "only to this endpoint (default: every endpoint the event has)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: wharf events redeliver [--endpoint NAME] EVENT_ID CONFIG")
		return errUsage
	}
	ctx := context.Background()
	es, closeStore, err := openEventStore(ctx, fs.Arg(1), stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := es.Redeliver(ctx, fs.Arg(0), *endpoint, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "event %s: %d deliveries pending again; a running wharf sends them\n", fs.Arg(0), n)
	return nil
}
