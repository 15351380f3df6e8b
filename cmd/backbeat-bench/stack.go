package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The local stack (e2e/stack/stack.sh).
const (
	srcEndpoint = "http://127.0.0.1:17000"
	mongoURI    = "mongodb://127.0.0.1:27117"
	kafkaBroker = "127.0.0.1:19092"
	redisAddr   = "127.0.0.1:16379"
	accessKey   = "backbeat"
	secretKey   = "backbeat-secret-key"
	region      = "us-east-1"
)

// sites of the local stack a run may replicate to (-site).
var siteEndpoints = map[string]string{"site-a": "http://127.0.0.1:17001", "site-b": "http://127.0.0.1:17002"}

// streaming sends bodies unsigned, as the service does: a streamed body
// cannot be hashed before it is sent.
var streaming = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// rawS3 is a plain SDK client, tuned like the service's (HTTP/1.1, enough
// idle connections for every worker), for the raw-copy baseline and for
// seeding.
func rawS3(ctx context.Context, endpoint string, conns int) (*s3.Client, error) {
	tune := func(tr *http.Transport) {
		tr.ForceAttemptHTTP2 = false
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = conns
		tr.WriteBufferSize, tr.ReadBufferSize = 64<<10, 64<<10
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(tune)),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}), nil
}

// service is one backbeat process.
type service struct {
	role    string
	cmd     *exec.Cmd
	debug   string
	done    chan error
	stopped sync.Once
}

// startService runs `backbeat <role>` with the bench's configuration file
// and a pprof listener.
func startService(o options, cfgPath, role string, tag string) (*service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	debug := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(o.out, fmt.Sprintf("%s-%s.log", tag, role))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, role, "--config", cfgPath)
	cmd.Env = append(os.Environ(), "BACKBEAT_DEBUG_LISTEN="+debug)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s %s: %w", o.bin, role, err)
	}
	s := &service{role: role, cmd: cmd, debug: debug, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); lf.Close() }()
	return s, nil
}

// stop sends SIGTERM (the service drains) and kills after a grace period.
func (s *service) stop() {
	if s == nil {
		return
	}
	s.stopped.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-s.done:
		case <-time.After(20 * time.Second):
			logf("%s did not stop 20 s after SIGTERM: killed", s.role)
			_ = s.cmd.Process.Kill()
			err = <-s.done
		}
		if err != nil {
			logf("%s exited: %v", s.role, err)
		}
	})
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// peakRSS is the process's high-water resident set size (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cpuTicks is the CPU time (user+system, in clock ticks of 1/100 s) of pid
// and every descendant still running: the stack's servers run under
// wrapper scripts.
func cpuTicks(pid int) int64 {
	if pid == machinePid {
		return machineTicks()
	}
	children := map[int][]int{}
	ticks := map[int]int64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		children[ppid] = append(children[ppid], p)
		ticks[p] = ut + st
	}
	var sum func(int) int64
	sum = func(p int) int64 {
		t := ticks[p]
		for _, c := range children[p] {
			t += sum(c)
		}
		return t
	}
	return sum(pid)
}

// machinePid names, in a cpuMeter, the whole machine's busy time
// (machineTicks) rather than one process's.
const machinePid = -1

// machineName is the machine's entry in a report: every process, ours,
// the stack's and the bench's, so that a saturated machine shows.
var machineName = fmt.Sprintf("machine (all %d cores)", runtime.NumCPU())

// machineTicks is the busy CPU time of the whole machine, every core, in
// clock ticks: /proc/stat's first line without idle and iowait.
func machineTicks() int64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}

// stackPids reads the pid of each stack service from `stack.sh status`.
func stackPids() map[string]int {
	out, _ := exec.Command("bash", "e2e/stack/stack.sh", "status").Output()
	re := regexp.MustCompile(`(?m)^(\S+)\s+.*\bpid (\d+)`)
	pids := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		p, _ := strconv.Atoi(m[2])
		pids[m[1]] = p
	}
	return pids
}

// cpuMeter compares the CPU used by named processes over a window: it
// shows which process was busy while a workload ran.
type cpuMeter struct {
	pids  map[string]int
	start map[string]int64
	at    time.Time
	// end and until, once set by stop, close the window: a report taken
	// later (after a profile that outlasts the workload) covers only it.
	end   map[string]int64
	until time.Time
}

// stop ends the window at now.
func (m *cpuMeter) stop() {
	m.end, m.until = map[string]int64{}, time.Now()
	for n, p := range m.pids {
		m.end[n] = cpuTicks(p)
	}
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	pids = maps.Clone(pids)
	pids[machineName] = machinePid
	m := &cpuMeter{pids: pids, start: map[string]int64{}, at: time.Now()}
	for n, p := range pids {
		m.start[n] = cpuTicks(p)
	}
	return m
}

// machineSeconds is the whole machine's busy CPU time over the window,
// every core's, in seconds.
func (m *cpuMeter) machineSeconds() float64 {
	if m.end == nil {
		m.stop()
	}
	return float64(m.end[machineName]-m.start[machineName]) / 100
}

// report returns "name 1.23 cores, ..." for the window, busiest first;
// the window ends at the first report if stop was not called.
func (m *cpuMeter) report() string {
	if m.end == nil {
		m.stop()
	}
	el := m.until.Sub(m.at).Seconds()
	type row struct {
		n string
		c float64
	}
	var rows []row
	for n := range m.pids {
		rows = append(rows, row{n, float64(m.end[n]-m.start[n]) / 100 / el})
	}
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			if rows[j].c > rows[i].c {
				rows[i], rows[j] = rows[j], rows[i]
			}
		}
	}
	var parts []string
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s %.2f", r.n, r.c))
	}
	return "CPU cores used: " + strings.Join(parts, ", ")
}

// topicCount is the number of messages in topic (sum of the partitions'
// newest offsets: the topic is new, so it starts at zero).
func topicCount(client sarama.Client, topic string) (int64, error) {
	if err := client.RefreshMetadata(topic); err != nil {
		return 0, err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		n += off
	}
	return n, nil
}

// profile fetches a CPU profile of a service for secs seconds into path and
// returns the top of `go tool pprof -top`.
func profile(ctx context.Context, s *service, bin string, secs int, path string) string {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.debug, secs)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	// A service just started may not listen yet.
	resp, err := http.DefaultClient.Do(req)
	for deadline := time.Now().Add(5 * time.Second); err != nil && ctx.Err() == nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		resp, err = http.DefaultClient.Do(req)
	}
	if err != nil {
		return "profile: " + err.Error()
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return "profile: " + err.Error()
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return "profile: " + err.Error()
	}
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=18", bin, path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("pprof: %v: %s", err, out)
	}
	return string(out)
}

// javaSamples samples the threads of a Java process (the stack's
// mongo-java-server) with `jcmd Thread.print` for d, and returns the
// busiest stacks of its RUNNABLE threads: a poor man's CPU profile of a
// stand-in server, to show when it, not our code, is the bottleneck.
func javaSamples(ctx context.Context, pid int, d time.Duration) string {
	if _, err := exec.LookPath("jcmd"); err != nil || pid == 0 {
		return "jcmd not available: no samples of mongo-java-server"
	}
	counts := map[string]int{}
	total, samples := 0, 0
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		out, err := exec.CommandContext(ctx, "jcmd", strconv.Itoa(pid), "Thread.print").Output()
		if err != nil {
			return "jcmd: " + err.Error()
		}
		samples++
		for _, blk := range strings.Split(string(out), "\n\n") {
			if !strings.Contains(blk, "java.lang.Thread.State: RUNNABLE") {
				continue
			}
			var frames []string
			for _, l := range strings.Split(blk, "\n") {
				l = strings.TrimSpace(l)
				if f, ok := strings.CutPrefix(l, "at de.bwaldvogel.mongo."); ok {
					if i := strings.IndexByte(f, '('); i > 0 {
						f = f[:i]
					}
					frames = append(frames, f)
				}
			}
			if len(frames) == 0 {
				continue
			}
			total++
			counts[strings.Join(frames[:min(3, len(frames))], " <- ")]++
		}
		time.Sleep(200 * time.Millisecond)
	}
	type kv struct {
		k string
		v int
	}
	var rows []kv
	for k, v := range counts {
		rows = append(rows, kv{k, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].v > rows[j].v })
	var b strings.Builder
	fmt.Fprintf(&b, "%d thread dumps, %d RUNNABLE mongo-java-server stacks; busiest (share, innermost first):\n", samples, total)
	for _, r := range rows[:min(6, len(rows))] {
		fmt.Fprintf(&b, "  %5.1f%%  %s\n", 100*float64(r.v)/float64(max(total, 1)), r.k)
	}
	return b.String()
}
