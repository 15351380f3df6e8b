// Package redisstore provides, on Redis (github.com/redis/go-redis/v9),
// the ports shared by every process of a deployment: the failure store
// (ports.FailureStore), named expiring locks (ports.Locker), replication
// metrics (ports.MetricsRecorder) and site pause/resume control
// (ports.SiteControl).
//
// Failures and metrics use upstream Backbeat's key layout exactly (see
// Failures and Metrics), so that its tools and ours read the same data;
// Config.KeyPrefix, empty by default, is put before every key and channel
// name. Site state is stored as upstream stores it in ZooKeeper, in a
// Redis key instead, and changes are announced on upstream's pause/resume
// channel.
//
// Writes that touch several keys run as one MULTI/EXEC transaction or one
// Lua script, so concurrent processes never see half of a change. They
// assume one Redis server (or Sentinel): the keys of one operation are not
// in one Redis Cluster hash slot.
package redisstore
