package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// casCost measures an update filtered on {_id, value}, the status
// write-back's compare-and-swap, against one filtered on {_id} alone, in a
// collection of casDocs documents. Plain mongo-java-server serves a query
// from an index only when the query names exactly the index's fields
// (AbstractUniqueIndex.canHandle), so the CAS scanned the whole bucket
// collection; the stack's launcher (e2e/stack/mongo/Launcher.java) serves
// any _id equality from the _id index, as MongoDB does. This row shows
// which stand-in ran: a ratio near 1 for the launcher's, growing with the
// bucket for a plain one.
func (b *bench) casCost(ctx context.Context) (Result, error) {
	const casDocs, ops = 20000, 300
	coll := b.meta.Database().Collection(b.run + "-cas")
	defer func() { _ = coll.Drop(context.WithoutCancel(ctx)) }()
	id := func(i int) string { return fmt.Sprintf("k%06d", i) }
	value := func(i int) bson.D { return bson.D{{Key: "key", Value: id(i)}, {Key: "content-length", Value: 4096}} }
	docs := make([]any, 0, 1000)
	for i := range casDocs {
		docs = append(docs, bson.D{{Key: "_id", Value: id(i)}, {Key: "value", Value: value(i)}})
		if len(docs) == cap(docs) {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				return Result{}, err
			}
			docs = docs[:0]
		}
	}
	timed := func(withValue bool) (time.Duration, error) {
		start := time.Now()
		for n := range ops {
			i := n * (casDocs / ops)
			f := bson.D{{Key: "_id", Value: id(i)}}
			if withValue {
				f = append(f, bson.E{Key: "value", Value: value(i)})
			}
			res, err := coll.UpdateOne(ctx, f, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}})
			if err != nil {
				return 0, err
			}
			if res.MatchedCount != 1 {
				return 0, fmt.Errorf("update of %s matched %d documents", id(i), res.MatchedCount)
			}
		}
		return time.Since(start) / ops, nil
	}
	byID, err := timed(false)
	if err != nil {
		return Result{}, err
	}
	cas, err := timed(true)
	if err != nil {
		return Result{}, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := Result{Name: fmt.Sprintf("stand-in update, {_id, value} vs {_id}, %d docs", casDocs), Unit: "ms/update",
		Value: ms(cas), Baseline: ms(byID), Ratio: ms(cas) / ms(byID), Target: "-",
		Note: "near 1 when the stand-in serves the CAS filter from the _id index (the stack's launcher does, as MongoDB does); plain mongo-java-server scans the collection and the ratio grows with the bucket"}
	logf("stand-in CAS cost: %.2f ms per update by {_id, value}, %.2f ms by {_id} (%d documents)", r.Value, r.Baseline, casDocs)
	return r, nil
}
