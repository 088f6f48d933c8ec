package memory

import (
	"fmt"
	"testing"
)

// Kafka's own vectors, from UtilsTest.testMurmur2 in the Java client: a key
// must land on the partition a Kafka producer would pick.
func TestMurmur2MatchesKafka(t *testing.T) {
	tests := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		if got := murmur2(tt.key); got != tt.want {
			t.Errorf("murmur2(%q) = %d; want %d", tt.key, got, tt.want)
		}
	}
}

func TestPartitionFor(t *testing.T) {
	// toPositive(-973932308) = 1173551340, and so on.
	tests := []struct {
		key  string
		n    int
		want int32
	}{
		{"21", 4, 1173551340 % 4},
		{"21", 7, 1173551340 % 7},
		{"foobar", 10, (2147483648 - 790332482) % 10},
		{"abc", 3, 479470107 % 3},
		{"anything", 1, 0},
	}
	for _, tt := range tests {
		if got := partitionFor(tt.key, tt.n); got != tt.want {
			t.Errorf("partitionFor(%q, %d) = %d; want %d", tt.key, tt.n, got, tt.want)
		}
	}
}

func TestPartitionForSpreadsKeys(t *testing.T) {
	const n, keys = 8, 8000
	var count [n]int
	for i := range keys {
		p := partitionFor(fmt.Sprintf("sale-%d", i), n)
		if p < 0 || p >= n {
			t.Fatalf("partitionFor(sale-%d, %d) = %d; out of range", i, n, p)
		}
		count[p]++
	}
	for p, c := range count {
		if c < keys/n/2 {
			t.Errorf("partition %d got %d of %d keys; want about %d", p, c, keys, keys/n)
		}
	}
}

func BenchmarkPartitionFor(b *testing.B) {
	for b.Loop() {
		partitionFor("0190d2c4-7f1e-7cc3-9a6b-3c1f0e5d2a11", 12)
	}
}
