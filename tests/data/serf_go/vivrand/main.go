// Writes what claw-node's reproduction of Serf's coordinate performance tests needs from
// Go: the start of math/rand's stream for seed 1 (Serf's Simulate and GenerateRandom both
// call rand.Seed(1)) as little-endian Int63 values, and GenerateRandom's RTT matrix.
// Run with Debian's golang-go and golang-github-hashicorp-serf-dev, from the repository root:
//   D=$(mktemp -d); mkdir $D/src; cp -r tests/data/serf_go/vivrand $D/src/
//   GO111MODULE=off GOPATH=$D:/usr/share/gocode go run vivrand tests/data/go_rand_seed1.bin tests/data/serf_random_truth.json
package main

import (
	"encoding/binary"
	"encoding/json"
	"math/rand"
	"os"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

const draws = 40200 // Drift's 10,000 cycles x 4 nodes, plus the random directions

func main() {
	rand.Seed(1)
	buf := make([]byte, 8*draws)
	for i := 0; i < draws; i++ {
		binary.LittleEndian.PutUint64(buf[8*i:], uint64(rand.Int63()))
	}
	if err := os.WriteFile(os.Args[1], buf, 0o644); err != nil {
		panic(err)
	}
	truth := coordinate.GenerateRandom(25, 100*time.Millisecond, 10*time.Millisecond)
	nanos := make([][]int64, len(truth))
	for i := range truth {
		for _, d := range truth[i] {
			nanos[i] = append(nanos[i], int64(d))
		}
	}
	out, _ := json.Marshal(map[string]interface{}{"random_truth_nanos": nanos})
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		panic(err)
	}
}
