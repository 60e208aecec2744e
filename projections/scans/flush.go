package scans

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scanledger/scanledger/projections"
)

// Flush writes the segment: parents before children (the read model relies on it:
// PostgreSQL no longer checks with foreign keys, docs/read-model.md), updates
// grouped into one statement per shape, deletions last.
func (p *Projector) Flush(ctx context.Context, tx *projections.Tx) error {
	g := p.seg
	if g.empty() {
		return nil
	}
	houseOf, err := g.resolveHouses(ctx, tx)
	if err != nil {
		return err
	}
	if err := g.writeHouses(ctx, tx, houseOf); err != nil {
		return err
	}
	if err := g.writeScans(ctx, tx); err != nil {
		return err
	}
	if err := g.writeChildren(ctx, tx); err != nil {
		return err
	}
	if err := g.updateScans(ctx, tx); err != nil {
		return err
	}
	return g.writeDeletes(ctx, tx, houseOf)
}

// resolveHouses maps every scan whose house the segment touches or may delete to its
// house: from Created when it is in the segment, else from the scans table.
func (g *segment) resolveHouses(ctx context.Context, tx *projections.Tx) (map[string]string, error) {
	houseOf := map[string]string{}
	var unknown []string
	need := func(scanID string) {
		if _, ok := houseOf[scanID]; ok {
			return
		}
		if s := g.scans[scanID]; s != nil && s.inserted {
			houseOf[scanID] = s.houseID
			return
		}
		houseOf[scanID] = ""
		unknown = append(unknown, scanID)
	}
	for _, op := range g.houses {
		need(op.scanID)
	}
	for _, s := range g.deletes {
		if s.houseID != "" {
			houseOf[s.id] = s.houseID
		}
	}
	if len(unknown) == 0 {
		return houseOf, nil
	}
	d := tx.Dialect()
	rows, err := tx.Query(ctx, `SELECT id, house_id FROM scans WHERE `+d.AnyOf("id", "$1"), d.Strings(unknown))
	if err != nil {
		return nil, fmt.Errorf("find houses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s, h string
		if err := rows.Scan(&s, &h); err != nil {
			return nil, fmt.Errorf("find houses: %w", err)
		}
		houseOf[s] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find houses: %w", err)
	}
	for _, op := range g.houses {
		if houseOf[op.scanID] == "" {
			return nil, fmt.Errorf("scan %s is not in the read model", op.scanID)
		}
	}
	return houseOf, nil
}

// houseDelta is the folded effect of a segment's house ops on one house.
type houseDelta struct {
	id        string
	create    *houseOp // the first Created naming the house
	address   *string
	houseType *string
	at        time.Time
}

func (g *segment) writeHouses(ctx context.Context, tx *projections.Tx, houseOf map[string]string) error {
	if len(g.houses) == 0 {
		return nil
	}
	d := tx.Dialect()
	deltas := map[string]*houseDelta{}
	var order []*houseDelta
	for _, op := range g.houses {
		id := houseOf[op.scanID]
		h, ok := deltas[id]
		if !ok {
			h = &houseDelta{id: id}
			deltas[id] = h
			order = append(order, h)
		}
		if op.create && h.create == nil {
			h.create = &op
		}
		if op.address != nil {
			h.address = op.address
		}
		if op.houseType != nil {
			h.houseType = op.houseType
		}
		h.at = op.at
	}
	var upserts, updates [][]any
	for _, h := range order {
		if h.create != nil {
			upserts = append(upserts, []any{h.id, h.create.userID, h.address, h.houseType, "active",
				d.Time(h.create.at), d.Time(h.at)})
		} else {
			updates = append(updates, []any{h.id, h.address, h.houseType, d.Time(h.at)})
		}
	}
	// A Created naming an existing house (houseId given) updates it instead; its owner
	// and status stay.
	if err := tx.ExecValues(ctx, `INSERT INTO houses (id, user_id, address, house_type, status, created_at, updated_at)`,
		`ON CONFLICT (id) DO UPDATE SET address = COALESCE(excluded.address, houses.address),
		house_type = COALESCE(excluded.house_type, houses.house_type), updated_at = excluded.updated_at`, upserts); err != nil {
		return fmt.Errorf("upsert houses: %w", err)
	}
	if _, err := tx.UpdateValues(ctx, `UPDATE houses SET address = COALESCE(v.column2, houses.address),
		house_type = COALESCE(v.column3, houses.house_type), updated_at = v.column4 FROM (`,
		`) AS v WHERE houses.id = v.column1`, []string{"uuid", "text", "text", "timestamp(3)"}, updates); err != nil {
		return fmt.Errorf("update houses: %w", err)
	}
	return nil
}

func (g *segment) writeScans(ctx context.Context, tx *projections.Tx) error {
	d := tx.Dialect()
	var inserts [][]any
	for _, s := range g.order {
		if !s.inserted || s.gone {
			continue
		}
		r := s.row
		inserts = append(inserts, []any{s.id, s.houseID, r.status, d.JSON(r.inputs), d.Strings(r.houseTypes),
			d.NullTime(r.startedAt), d.NullTime(r.finishedAt), d.Time(s.createdAt), s.userID, r.attempt,
			r.progress, r.stage, r.failureCode, r.failureReason, r.version, d.Time(r.updatedAt)})
	}
	if err := tx.ExecValues(ctx, `INSERT INTO scans (id, house_id, status, inputs_snapshot, detected_house_types,
		started_at, finished_at, created_at, user_id, attempt, progress, stage, failure_code, failure_reason,
		version, updated_at)`, "", inserts); err != nil {
		return fmt.Errorf("insert scans: %w", err)
	}
	return nil
}

// childTables are deleted in this order: images reference rooms.
func childTables() []string {
	return []string{"house_room_images", "rooms", "house_scan_summary", "agents_runs"}
}

func (g *segment) deleteChildren(ctx context.Context, tx *projections.Tx, scanIDs []string) error {
	if len(scanIDs) == 0 {
		return nil
	}
	d := tx.Dialect()
	for _, table := range childTables() {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+d.AnyOf("scan_id", "$1"), d.Strings(scanIDs)); err != nil {
			return fmt.Errorf("delete %s: %w", table, err)
		}
	}
	return nil
}

func (g *segment) writeChildren(ctx context.Context, tx *projections.Tx) error {
	d := tx.Dialect()
	var replaced []string
	var rooms, images, runs, sums, types [][]any
	typed := map[string]int{} // room id -> row in types, so the last update of a room wins
	for _, s := range g.order {
		if s.gone {
			continue
		}
		if s.replaced && !s.inserted {
			replaced = append(replaced, s.id)
		}
		for _, r := range s.rooms {
			rooms = append(rooms, []any{r.id, s.id, r.ordinal, r.label, d.Strings(r.types), d.Time(r.createdAt)})
		}
		for _, im := range s.images {
			images = append(images, []any{im.id, s.id, im.roomID, im.img.BlobKey, d.Time(im.createdAt),
				im.img.BlobKey, im.img.ContentType, im.img.Bytes, im.img.SHA256, im.ordinal})
		}
		for _, rt := range s.roomTypes {
			row := []any{rt.roomID, s.id, d.Strings(rt.types)}
			if i, ok := typed[rt.roomID]; ok {
				types[i] = row
			} else {
				typed[rt.roomID] = len(types)
				types = append(types, row)
			}
		}
		for _, r := range s.runs {
			runs = append(runs, []any{r.id, s.id, r.run.AgentName, r.run.TokensIn, r.run.TokensOut, r.cost,
				d.NullTime(&r.run.StartedAt), d.NullTime(&r.run.FinishedAt), d.Time(r.at), r.attempt, nullString(r.run.Model), nullString(r.run.ModelID)})
		}
		if m := s.summary; m != nil {
			sums = append(sums, []any{m.id, s.id, d.JSON(m.summary), nullJSON(d, m.prosCons), nullJSON(d, m.costSum),
				nullString(m.schemaVersion), d.Time(m.at)})
		}
	}
	if err := g.deleteChildren(ctx, tx, replaced); err != nil {
		return err
	}
	if err := tx.ExecValues(ctx, `INSERT INTO rooms (id, scan_id, ordinal, label, detected_room_types, created_at)`, "", rooms); err != nil {
		return fmt.Errorf("insert rooms: %w", err)
	}
	if err := tx.ExecValues(ctx, `INSERT INTO house_room_images (id, scan_id, room_id, url, created_at,
		blob_key, content_type, bytes, sha256, ordinal)`, "", images); err != nil {
		return fmt.Errorf("insert images: %w", err)
	}
	if _, err := tx.UpdateValues(ctx, `UPDATE rooms SET detected_room_types = v.column3 FROM (`,
		`) AS v WHERE rooms.id = v.column1 AND rooms.scan_id = v.column2`, []string{"uuid", "uuid", "text[]"}, types); err != nil {
		return fmt.Errorf("update room types: %w", err)
	}
	if err := tx.ExecValues(ctx, `INSERT INTO agents_runs (id, scan_id, agent_name, tokens_in, tokens_out, cost_usd,
		started_at, finished_at, created_at, attempt, model, model_id)`, `ON CONFLICT (id) DO NOTHING`, runs); err != nil {
		return fmt.Errorf("insert agent runs: %w", err)
	}
	if err := tx.ExecValues(ctx, `INSERT INTO house_scan_summary (id, scan_id, summary_json, pros_cons_json,
		cost_summary, schema_version, derived_at)`, `ON CONFLICT (scan_id) DO UPDATE SET
		summary_json = excluded.summary_json, pros_cons_json = excluded.pros_cons_json,
		cost_summary = excluded.cost_summary, schema_version = excluded.schema_version,
		derived_at = excluded.derived_at`, sums); err != nil {
		return fmt.Errorf("upsert summaries: %w", err)
	}
	return nil
}

// column returns a changeable scan column's name, Postgres type and value to bind.
func (r *scanRow) column(d projections.Dialect, bit int) (string, string, any) {
	switch bit {
	case colStatus:
		return "status", "text", r.status
	case colInputs:
		return "inputs_snapshot", "jsonb", d.JSON(r.inputs)
	case colHouseTypes:
		return "detected_house_types", "text[]", d.Strings(r.houseTypes)
	case colStartedAt:
		return "started_at", "timestamp(3)", d.NullTime(r.startedAt)
	case colFinishedAt:
		return "finished_at", "timestamp(3)", d.NullTime(r.finishedAt)
	case colAttempt:
		return "attempt", "integer", r.attempt
	case colProgress:
		return "progress", "integer", r.progress
	case colStage:
		return "stage", "text", r.stage
	case colFailureCode:
		return "failure_code", "text", r.failureCode
	case colFailureReason:
		return "failure_reason", "text", r.failureReason
	}
	// Every bit set by the projector has a case above; a new one without its column
	// would otherwise be written into the wrong column silently.
	panic(fmt.Sprintf("scans: no column for change bit %#x", bit))
}

// updateScans writes the changed columns of scans created before the segment, one
// statement per set of changed columns.
func (g *segment) updateScans(ctx context.Context, tx *projections.Tx) error {
	d := tx.Dialect()
	byShape := map[int][][]any{}
	var shapes []int
	for _, s := range g.order {
		if s.inserted || s.gone {
			continue
		}
		row := []any{s.id}
		for bit := 1; bit < colLast; bit <<= 1 {
			if s.dirty&bit != 0 {
				_, _, v := s.row.column(d, bit)
				row = append(row, v)
			}
		}
		row = append(row, s.row.version, d.Time(s.row.updatedAt))
		if _, ok := byShape[s.dirty]; !ok {
			shapes = append(shapes, s.dirty)
		}
		byShape[s.dirty] = append(byShape[s.dirty], row)
	}
	for _, shape := range shapes {
		rows := byShape[shape]
		var set strings.Builder
		types := []string{"uuid"}
		for bit := 1; bit < colLast; bit <<= 1 {
			if shape&bit != 0 {
				name, typ, _ := (&scanRow{}).column(d, bit)
				types = append(types, typ)
				set.WriteString(name + " = v.column" + strconv.Itoa(len(types)) + ", ")
			}
		}
		types = append(types, "bigint", "timestamp(3)")
		set.WriteString("version = v.column" + strconv.Itoa(len(types)-1) + ", updated_at = v.column" + strconv.Itoa(len(types)))
		n, err := tx.UpdateValues(ctx, `UPDATE scans SET `+set.String()+` FROM (`, `) AS v WHERE scans.id = v.column1`, types, rows)
		if err != nil {
			return fmt.Errorf("update scans: %w", err)
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("update scans: %d of %d scans are not in the read model", int64(len(rows))-n, len(rows))
		}
	}
	return nil
}

// writeDeletes removes the scans deleted in the segment, then their houses when no scan
// of them is left.
func (g *segment) writeDeletes(ctx context.Context, tx *projections.Tx, houseOf map[string]string) error {
	if len(g.deletes) == 0 {
		return nil
	}
	var stored, houses []string
	seen := map[string]bool{}
	for _, s := range g.deletes {
		if !s.inserted {
			stored = append(stored, s.id)
		}
		if h := houseOf[s.id]; h != "" && !seen[h] {
			seen[h] = true
			houses = append(houses, h)
		}
	}
	if err := g.deleteChildren(ctx, tx, stored); err != nil {
		return err
	}
	d := tx.Dialect()
	if len(stored) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM scans WHERE `+d.AnyOf("id", "$1"), d.Strings(stored)); err != nil {
			return fmt.Errorf("delete scans: %w", err)
		}
	}
	if len(houses) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM houses WHERE `+d.AnyOf("id", "$1")+`
			AND NOT EXISTS (SELECT 1 FROM scans WHERE scans.house_id = houses.id)`, d.Strings(houses)); err != nil {
			return fmt.Errorf("delete houses: %w", err)
		}
	}
	return nil
}
