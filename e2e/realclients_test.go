package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/domain"
)

// Scenario 16: real clients. The seed's quickstart run with the aws CLI
// as a subprocess against `backbeat s3`: create, versioning,
// put-bucket-replication from a file, 20 put-object, one aws s3 cp of a
// 40 MiB file (multipart), put-object-tagging on one object and
// delete-object on another, then rclone copy of a directory of 200 small
// files. Every version, the tags and the delete marker included, must
// reach both sites, and head-object through the front must say COMPLETED
// for every object.
func TestRealClients(t *testing.T) {
	parallel(t)
	aws, err := exec.Command("bash", "stack/awscli.sh").Output()
	if err != nil {
		t.Fatalf("no aws CLI (e2e/stack/awscli.sh): %v", err)
	}
	awsBin := strings.TrimSpace(string(aws))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := l.Addr().String()
	l.Close()
	e := newEnv(t, "BACKBEAT_S3FRONT_LISTEN="+front)
	e.StartRoles()
	e.Start("s3", "s3")
	ctx := context.Background()
	bucket := e.Run + "-rc"
	for _, s := range siteNames {
		if err := e.Sites[s].EnsureVersionedBucket(ctx, bucket+"-replica"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(awsBin, append([]string{"--endpoint-url", "http://" + front, "--output", "text"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey, "AWS_DEFAULT_REGION=us-east-1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		for i := 0; ; i++ { // the front may still be starting
			out.Reset()
			errb.Reset()
			if err := cmd.Run(); err == nil {
				return strings.TrimSpace(out.String())
			} else if i == 50 || !strings.Contains(errb.String(), "Could not connect") {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errb.String())
			}
			time.Sleep(200 * time.Millisecond)
			cmd = exec.Command(cmd.Path, cmd.Args[1:]...)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey, "AWS_DEFAULT_REGION=us-east-1")
			cmd.Stdout, cmd.Stderr = &out, &errb
		}
	}
	repl := filepath.Join(dir, "replication.json")
	cfg, err := os.ReadFile("../configs/replication.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.ReplaceAll(cfg, []byte("arn:aws:s3:::quickstart"), []byte("arn:aws:s3:::"+bucket+"-replica"))
	if err := os.WriteFile(repl, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	run("s3api", "create-bucket", "--bucket", bucket)
	run("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	run("s3api", "put-bucket-replication", "--bucket", bucket, "--replication-configuration", "file://"+repl)
	keys := []string{}
	for i := range 20 {
		f := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(f, []byte(fmt.Sprintf("object %d of %s", i, e.Run)), 0o600); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("obj/%02d", i)
		run("s3api", "put-object", "--bucket", bucket, "--key", k, "--body", f)
		keys = append(keys, k)
	}
	big := filepath.Join(dir, "big.bin")
	data := make([]byte, 40<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run("s3", "cp", "--only-show-errors", big, "s3://"+bucket+"/big.bin")
	keys = append(keys, "big.bin")
	run("s3api", "put-object-tagging", "--bucket", bucket, "--key", keys[0], "--tagging", "TagSet=[{Key=client,Value=awscli}]")
	run("s3api", "delete-object", "--bucket", bucket, "--key", keys[1])
	keys = append(keys, rcloneCopy(t, front, bucket, filepath.Join(dir, "rclone"), 200)...)

	// The ledger is what the front recorded: every version, read back.
	for v := range e.scanAll(ctx, bucket) {
		e.Ledger.Add(Written{ObjectVersion: v, DestBucket: bucket + "-replica"})
	}
	all := e.Ledger.All()
	if len(all) != 222 { // 221 objects and a delete marker
		t.Fatalf("the front recorded %d versions, want 222", len(all))
	}
	e.WaitDone(all, 3*time.Minute)
	// The checker judges versions on their final state (the tag change
	// included). A multipart version's bytes are what was uploaded, not
	// its ETag; delete markers carry no source version id at a site, so
	// they are checked apart: the deleted key's latest version there is a
	// delete marker.
	e.Ledger = &Ledger{}
	sum := md5.Sum(data)
	markers := 0
	for v := range e.scanAll(ctx, bucket) {
		if v.IsDeleteMarker {
			markers++
		}
		if v.Key == keys[1] {
			continue // its master is the delete marker: checked below
		}
		if v.Key == "big.bin" {
			v.ContentMD5 = hex.EncodeToString(sum[:])
		}
		e.Ledger.Add(Written{ObjectVersion: v, DestBucket: bucket + "-replica"})
	}
	rep := e.Verify()
	for _, s := range siteNames {
		out, err := e.Sites[s].S3().ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: awssdk.String(bucket + "-replica"), Prefix: awssdk.String(keys[1])})
		if err != nil {
			t.Fatal(err)
		}
		latest := false
		for _, m := range out.DeleteMarkers {
			latest = latest || (awssdk.ToString(m.Key) == keys[1] && awssdk.ToBool(m.IsLatest))
		}
		if !latest || len(out.Versions) != 1 {
			rep.Lost++
			t.Errorf("%s at %s: %d versions and delete markers %+v, want 1 version under a delete marker", keys[1], s, len(out.Versions), out.DeleteMarkers)
		}
	}
	// head-object with the CLI for the CLI's objects, with the SDK for
	// rclone's 200 (a CLI process each would take minutes).
	sdk := newS3(t, "http://"+front).S3()
	for i, k := range keys {
		if k == keys[1] {
			continue // deleted: its head is a delete marker
		}
		var got string
		if i <= 20 {
			got = run("s3api", "head-object", "--bucket", bucket, "--key", k, "--query", "ReplicationStatus")
		} else if out, err := sdk.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &k}); err != nil {
			got = err.Error()
		} else {
			got = string(out.ReplicationStatus)
		}
		if got != "COMPLETED" {
			t.Errorf("head-object %s: ReplicationStatus %q, want COMPLETED", k, got)
		}
	}
	n := rep.Written + 1 + markers // the deleted key's version and its marker
	fmt.Printf("real-clients versions=%d lost=%d\n", n, rep.Lost)
	t.Logf("real-clients versions=%d lost=%d", n, rep.Lost)
}

// rcloneCopy writes n small files under dir and copies the directory into
// bucket/rclone/ through the front with `rclone copy`, configured from the
// environment. It returns the keys written.
func rcloneCopy(t *testing.T, front, bucket, dir string, n int) []string {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		t.Fatalf("no rclone (the stack's scripts install it: bash e2e/stack/stack.sh up): %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("f%03d.txt", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("rclone file %d\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, "rclone/"+name)
	}
	cmd := exec.Command(bin, "copy", "--transfers", "8", "--s3-no-check-bucket", "--retries", "1", "-v", dir, "front:"+bucket+"/rclone")
	// rclone's SDK refuses AWS_CA_BUNDLE with its own transport; the
	// front is plain HTTP on loopback anyway.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
	cmd.Env = append(env,
		"RCLONE_CONFIG_FRONT_TYPE=s3", "RCLONE_CONFIG_FRONT_PROVIDER=Other",
		"RCLONE_CONFIG_FRONT_ENDPOINT=http://"+front, "RCLONE_CONFIG_FRONT_REGION=us-east-1",
		"RCLONE_CONFIG_FRONT_ACCESS_KEY_ID="+accessKey, "RCLONE_CONFIG_FRONT_SECRET_ACCESS_KEY="+secretKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rclone copy: %v\n%s", err, out)
	}
	return keys
}

// scanAll yields every version document of bucket.
func (e *Env) scanAll(ctx context.Context, bucket string) func(func(domain.ObjectVersion) bool) {
	return func(yield func(domain.ObjectVersion) bool) {
		after := domain.VersionRef{}
		for {
			page, err := e.Meta.ScanVersions(ctx, bucket, "", after, 100)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, v := range page {
				if v.Err != nil {
					e.t.Fatal(v.Err)
				}
				if !yield(v.ObjectVersion) {
					return
				}
				after = v.Ref()
			}
			if len(page) < 100 {
				return
			}
		}
	}
}
