package bench

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProbeDisk(t *testing.T) {
	dir := t.TempDir()
	mbps, err := probeDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !(mbps > 0) || math.IsInf(mbps, 0) {
		t.Errorf("probe = %v MB/s", mbps)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("probe left %d files behind", len(left))
	}
	if _, err := probeDisk(dir + "/missing"); err == nil {
		t.Error("probe into a missing directory succeeded")
	}
}

// TestProbeRows checks a probe gets its figures in both tables and no
// comparison: it measures the machine, not a server.
func TestProbeRows(t *testing.T) {
	kinds := []Kind{Wharf, DistributionV3}
	res := &results{}
	res.add("push-large", "MB/s", Wharf, figure{value: 800})
	res.add("push-large", "MB/s", DistributionV3, figure{value: 400})
	res.addProbe("disk before push-large", "MB/s", Wharf, 1000)
	res.addProbe("disk before push-large", "MB/s", DistributionV3, 500)
	medians := buildTable(kinds, res)
	if len(medians.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(medians.Rows))
	}
	if got := strings.Join(medians.Rows[1], "|"); got != "disk before push-large|MB/s|1000|500|-|-|-|-|-" {
		t.Errorf("probe row = %s", got)
	}
	if got := medians.Rows[0][4]; got != "2.00x" {
		t.Errorf("push-large ratio = %s, want 2.00x", got)
	}
	if rounds := buildRoundsTable(kinds, res); len(rounds.Rows) != 4 {
		t.Errorf("%d round rows, want 4", len(rounds.Rows))
	}
}

// TestProbeWriteFloor runs the write floor in a process of its own (this
// test binary, as wharf-bench runs itself) over the smoke run's layers:
// a figure comes back, nothing is left in the directory, and a missing
// directory is an error.
func TestProbeWriteFloor(t *testing.T) {
	dir := t.TempDir()
	im := (&dataset{sz: sizesFor(true, time.Second)}).large()
	mbps, err := probeWriteFloor(context.Background(), dir, im)
	if err != nil {
		t.Fatal(err)
	}
	if !(mbps > 0) || math.IsInf(mbps, 0) {
		t.Errorf("write floor = %v MB/s", mbps)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("write floor left %v behind", left)
	}
	if _, err := probeWriteFloor(context.Background(), dir+"/missing", im); err == nil {
		t.Error("write floor into a missing directory succeeded")
	}
}
