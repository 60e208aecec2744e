package scans

// Tables are the tables this projector owns, parents before children: a rebuild
// replaces exactly these (docs/read-model.md, "Who owns which table").
var Tables = []string{"houses", "scans", "rooms", "house_room_images", "house_scan_summary", "agents_runs"}

// Views are the analytics views that read only Tables; they move with them in a swap.
var Views = []string{"scan_outcomes", "agent_costs_daily", "scan_costs"}
