-- The scans read model drops its foreign keys (docs/read-model.md, "Foreign keys").
-- Every row of these tables is written by the scans projector, which writes a parent in
-- the same or an earlier transaction than its children (houses, then scans, then rooms,
-- then images; stream order), fails a batch whose scan is not in the read model, and
-- deletes children itself before their scan; a rebuild recreates the tables from the
-- events. Checking each child row against its parent was half the cost of an insert
-- while catching up. Forgetting a user deletes the rows under their scans explicitly
-- (adapters/accounts), instead of through ON DELETE CASCADE.
ALTER TABLE scans DROP CONSTRAINT scans_house_id_fkey;
ALTER TABLE rooms DROP CONSTRAINT rooms_scan_id_fkey;
ALTER TABLE house_room_images DROP CONSTRAINT house_room_images_scan_id_fkey;
ALTER TABLE house_room_images DROP CONSTRAINT house_room_images_room_id_fkey;
ALTER TABLE house_scan_summary DROP CONSTRAINT house_scan_summary_scan_id_fkey;
ALTER TABLE agents_runs DROP CONSTRAINT agents_runs_scan_id_fkey;
