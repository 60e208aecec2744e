package feed

// Tables are the tables this projector owns. They are never rebuilt: each row is a
// message already sent, and its id is what clients resume from, so projecting the events
// again would send them again under new ids (docs/read-model.md).
var Tables = []string{"user_feed", "user_feed_scans", "user_feed_cursors"}
