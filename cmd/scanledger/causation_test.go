package main_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
)

// Worker events are caused by their attempt's ProcessingStarted and belong to the
// processing flow the request started: an auditor can join every event of a run to
// the request that asked for it.
func TestWorkerEventsPointAtTheirAttemptsProcessingStarted(t *testing.T) {
	srv := startServer(t, t.TempDir())
	tok := srv.token(domain.NewID(), "user")
	_, path := srv.submitScan(tok, `{"address":"12 Harbour Road"}`, photos(t), nil)
	type meta struct{ EventID, UserID, CorrelationID, CausationID string }
	var events []struct {
		Type     string
		Metadata meta
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		srv.json("GET", path+"/events", tok, "").data(t, &events)
		if last := events[len(events)-1]; last.Type == "Completed" || last.Type == "Failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processing did not finish: %+v", events)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var started meta
	workerEvents := 0
	for _, e := range events {
		switch e.Type {
		case "Created", "ImagesUploaded":
			if e.Metadata.CausationID == "" || e.Metadata.CorrelationID != e.Metadata.CausationID {
				t.Fatalf("%s: a request's command is caused by the request: %+v", e.Type, e.Metadata)
			}
		case "ProcessingStarted":
			started = e.Metadata
		default: // the worker's
			workerEvents++
			if e.Metadata.CausationID != started.EventID || e.Metadata.CorrelationID != started.CorrelationID || e.Metadata.UserID != "" {
				b, _ := json.Marshal(e)
				t.Fatalf("worker event %s: want causation %s and correlation %s", b, started.EventID, started.CorrelationID)
			}
		}
	}
	if started.EventID == "" || workerEvents < 2 {
		t.Fatalf("events: %+v", events)
	}
}
