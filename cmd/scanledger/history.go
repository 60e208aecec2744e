package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/event"
	"github.com/scanledger/scanledger/domain/scan"
)

// historyCmd is `scanledger history --scan ID [--version N | --at T]`: a scan's
// timeline, or its state after one version or at one time.
type historyCmd struct{ scanID, version, at string }

func (c *historyCmd) setFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.scanID, "scan", "", "the scan")
	fs.StringVar(&c.version, "version", "", "print the state right after this version")
	fs.StringVar(&c.at, "at", "", "print the state at this RFC 3339 time")
}

func (c *historyCmd) execute(ctx context.Context, cfg Config, _ *flag.FlagSet, stdout, stderr io.Writer) error {
	if !domain.ValidID(c.scanID) {
		return fmt.Errorf("history: --scan must be a scan id (UUID)")
	}
	if c.version != "" && c.at != "" {
		return fmt.Errorf("history: give --version or --at, not both")
	}
	e, err := openStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	h := e.scans()
	recs, err := h.History(ctx, c.scanID)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("history: scan %s not found", c.scanID)
	}
	var keep func(event.Recorded, event.Metadata) bool
	switch {
	case c.version != "":
		n, err := strconv.ParseInt(c.version, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("history: --version must be a whole number >= 0")
		}
		keep = scan.UpToVersion(n)
	case c.at != "":
		t, err := time.Parse(time.RFC3339Nano, c.at)
		if err != nil {
			return fmt.Errorf("history: --at must be an RFC 3339 time")
		}
		keep = scan.UpToTime(t)
	default:
		return printTimeline(stdout, recs)
	}
	snap, err := scan.Replay(ctx, h.Cipher, c.scanID, recs, keep)
	if err != nil {
		return err
	}
	if snap.Version < 0 {
		return fmt.Errorf("history: scan %s did not exist yet then", c.scanID)
	}
	sc := snap.Scan
	fmt.Fprintf(stdout, "scan %s at version %d (%s, %s)\n", sc.ID, snap.Version, snap.Type, snap.At.Format(time.RFC3339Nano))
	fmt.Fprintf(stdout, "user %s, house %s, address %q\n", sc.UserID, sc.HouseID, sc.Address)
	fmt.Fprintf(stdout, "status %s, attempt %d, progress %d%%, deleted %t\n", sc.Status, sc.Attempt, sc.Progress, sc.Deleted)
	for _, r := range sc.Rooms {
		fmt.Fprintf(stdout, "room %s %q: %d photos\n", r.RoomID, r.Label, len(r.Images))
	}
	if snap.Failure != nil {
		fmt.Fprintf(stdout, "failed: %s: %s\n", snap.Failure.Code, snap.Failure.Reason)
	}
	if snap.Result != nil {
		b, _ := json.Marshal(snap.Result.Result)
		fmt.Fprintf(stdout, "result: house types %v, %d agent runs, %s\n", snap.Result.HouseTypes, len(snap.Result.AgentRuns), b)
	}
	return nil
}

func printTimeline(w io.Writer, recs []event.Recorded) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME\tTYPE\tWHO\tSUMMARY")
	for _, r := range recs {
		m, err := event.ParseMetadata(r.Metadata)
		if err != nil {
			return err
		}
		who := m.UserID
		if who == "" {
			who = "system"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Version, m.OccurredAt.Format(time.RFC3339), r.Type, who, scan.Summary(r))
	}
	return tw.Flush()
}
