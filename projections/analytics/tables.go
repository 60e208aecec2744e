package analytics

// Tables are the tables this projector owns: a rebuild replaces exactly these
// (docs/read-model.md, "Who owns which table").
var Tables = []string{"scan_attempts", "scan_checklist_items"}
