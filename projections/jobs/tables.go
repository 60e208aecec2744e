package jobs

// Tables are the tables this projector owns. scan_jobs is not rebuilt: workers write
// its leases and claim counts, which no event records, so a rebuilt queue would forget
// which jobs are leased to whom (docs/read-model.md).
var Tables = []string{"scan_jobs"}
