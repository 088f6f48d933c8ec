package memory

// partitionFor is the Kafka default partitioner for a keyed record:
// toPositive(murmur2(key)) % n. Matching it means a key lands on the same
// partition number here as on a Kafka topic with n partitions.
func partitionFor(key string, n int) int32 {
	return int32(uint32(murmur2(key)&0x7fffffff) % uint32(n))
}

// murmur2 is Kafka's Utils.murmur2 (MurmurHash2, seed 0x9747b28c).
func murmur2(key string) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(key)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n & 3 {
	case 3:
		h ^= uint32(key[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
