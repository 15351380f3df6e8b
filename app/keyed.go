package app

import "sync"

// KeyedRunner runs jobs with at most one job per key at a time, in
// submission order per key, jobs of different keys concurrently (bounded by
// the caller), and drops a job whose dedupe id is already queued or running.
type KeyedRunner struct {
	mu      sync.Mutex
	queues  map[string][]keyedJob // key -> jobs waiting behind the running one
	running map[string]bool
	ids     map[string]bool // dedupe ids queued or running
	sem     chan struct{}
	wg      sync.WaitGroup
}

type keyedJob struct {
	id  string
	run func()
}

// NewKeyedRunner runs at most concurrency jobs at once.
func NewKeyedRunner(concurrency int) *KeyedRunner {
	if concurrency < 1 {
		concurrency = 1
	}
	return &KeyedRunner{
		queues:  map[string][]keyedJob{},
		running: map[string]bool{},
		ids:     map[string]bool{},
		sem:     make(chan struct{}, concurrency),
	}
}

// Submit schedules run under key. It returns false, without scheduling,
// when a job with the same dedupe id is already queued or running. It
// blocks while all workers are busy, so a consumer stops reading ahead.
func (r *KeyedRunner) Submit(key, id string, run func()) bool {
	r.mu.Lock()
	if r.ids[id] {
		r.mu.Unlock()
		return false
	}
	r.ids[id] = true
	if r.running[key] {
		r.queues[key] = append(r.queues[key], keyedJob{id: id, run: run})
		r.mu.Unlock()
		return true
	}
	r.running[key] = true
	r.mu.Unlock()
	r.start(key, keyedJob{id: id, run: run})
	return true
}

func (r *KeyedRunner) start(key string, job keyedJob) {
	r.sem <- struct{}{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			job.run()
			r.mu.Lock()
			delete(r.ids, job.id)
			q := r.queues[key]
			if len(q) == 0 {
				delete(r.queues, key)
				delete(r.running, key)
				r.mu.Unlock()
				<-r.sem
				return
			}
			job, r.queues[key] = q[0], q[1:]
			r.mu.Unlock()
		}
	}()
}

// Wait blocks until every submitted job has run.
func (r *KeyedRunner) Wait() { r.wg.Wait() }
