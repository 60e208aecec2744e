package builtin

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/analysis"
)

const (
	pipelineVersion = "builtin-1"
	stageLabel      = "image checks" // the one stage, as the agents label theirs in cost_info
	pricingNote     = "No model was called: the built-in analyzer checks photo quality on this machine at no cost"
)

// buildResponse fills the agents-service's response shape. Every collection is
// non-nil because the PWA iterates them without null checks.
func buildResponse(req analysis.Request, lists checklists, photos []photo, start, end time.Time) *analysis.Response {
	houseIDs, roomIDs, productIDs := lists.house.houseIDs(), lists.rooms.roomIDs(), lists.products.productIDs()
	notAssessed := make([]string, 0, len(houseIDs)+len(req.Rooms)*(len(roomIDs)+len(productIDs)))
	for _, id := range houseIDs {
		notAssessed = append(notAssessed, "house:"+id)
	}
	for _, room := range req.Rooms {
		for _, id := range roomIDs {
			notAssessed = append(notAssessed, "room:"+room.ID+":"+id)
		}
		for _, id := range productIDs {
			notAssessed = append(notAssessed, "product:"+room.ID+":"+id)
		}
	}

	// Like the agents-service, only rooms with at least one usable photo were
	// processed and appear in result.rooms and the client summary.
	rooms := []analysis.RoomResult{}
	csRooms := map[string]analysis.SummaryGroup{}
	csProducts := map[string]analysis.SummaryGroup{}
	for ri, room := range req.Rooms {
		if usableIn(photos, ri+1) == 0 {
			continue
		}
		rooms = append(rooms, analysis.RoomResult{
			RoomID: room.ID, RoomTypes: []string{}, Issues: emptyEvaluation(), Products: emptyEvaluation(),
		})
		csRooms[room.ID] = emptyGroup()
		csProducts[room.ID] = emptyGroup()
	}

	ok := usable(photos)
	summary := analysis.Summary{
		House:    []string{fmt.Sprintf("house:image_check:usable:%d/%d", ok, len(photos))},
		Rooms:    []string{},
		Products: []string{},
	}
	for i := range photos {
		summary.Rooms = append(summary.Rooms, photoLines(&photos[i])...)
	}
	summary.Custom = append(append(append([]string{}, summary.House...), summary.Rooms...), summary.Products...)

	pc := prosCons(req, photos, len(notAssessed))
	took := end.Sub(start).Seconds()
	return &analysis.Response{
		Result: analysis.Result{
			HouseTypes:     []string{},
			HouseChecklist: emptyEvaluation(),
			Rooms:          rooms,
			Summary:        summary,
			ProsCons:       pc,
			NotAssessed:    notAssessed,
		},
		ClientSummary: analysis.ClientSummary{
			House:    emptyGroup(),
			Rooms:    csRooms,
			Products: csProducts,
			ProsCons: analysis.ProsCons{Pros: append([]string{}, pc.Pros...), Cons: append([]string{}, pc.Cons...)},
			ChecklistMetadata: analysis.ChecklistMetadata{
				House:    lists.house.metadata(),
				Rooms:    lists.rooms.metadata(),
				Products: lists.products.metadata(),
			},
		},
		CostInfo:        costInfo(start, took),
		AgentExecutions: []json.RawMessage{},
		Metadata: analysis.Metadata{
			RequestID:            domain.NewID(),
			ExecutionTimeSeconds: round2(took),
			Timestamp:            naiveUTC(end),
			TotalImages:          ok, // the agents count the images they fetched
			RoomsProcessed:       len(rooms),
			PipelineVersion:      pipelineVersion,
		},
	}
}

func costInfo(start time.Time, took float64) analysis.CostInfo {
	return analysis.CostInfo{
		Models:         map[string]int{},
		Agents:         map[string]int{stageLabel: 0},
		AgentsDetailed: map[string]analysis.AgentUsage{stageLabel: {}},
		Costs:          analysis.Costs{ByModel: map[string]analysis.ModelCost{}, PricingNote: pricingNote},
		Session:        analysis.Session{DurationSeconds: round2(took), StartTime: naiveUTC(start)},
	}
}

func emptyEvaluation() analysis.Evaluation {
	return analysis.Evaluation{
		Booleans: map[string]bool{}, Categoricals: map[string]string{}, Conditionals: map[string]analysis.Conditional{},
	}
}

func emptyGroup() analysis.SummaryGroup {
	return analysis.SummaryGroup{BooleansTrue: []string{}, Categoricals: map[string]string{}}
}

// naiveUTC formats t as Python's datetime.utcnow().isoformat() does, which is what
// the agents-service sends and what the stored events already hold.
func naiveUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func round2(x float64) float64 { return math.Round(x*100) / 100 }
