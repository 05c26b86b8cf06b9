package quant

import (
	"math"
	"sort"
)

// DynamicMap is bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
// total_bits=8): the 256 sorted 8-bit dynamic-tree values quantize_blockwise uses by default
// (and so double quantization of NF4 absmaxes).
var DynamicMap = createDynamicMap()

func createDynamicMap() [256]float32 {
	const maxExponentBits, nonSignBits = 7, 7
	var data []float32
	for i := 0; i < maxExponentBits; i++ {
		items := 1<<(i+nonSignBits-maxExponentBits) + 1
		scale := float32(math.Pow(10, float64(-(maxExponentBits-1)+i)))
		bounds := linspace32(0.1, 1, items)
		for j := 0; j+1 < len(bounds); j++ {
			m := (bounds[j] + bounds[j+1]) / 2
			data = append(data, scale*m, -scale*m)
		}
	}
	data = append(data, 0, 1)
	sort.Slice(data, func(a, b int) bool { return data[a] < data[b] })
	var out [256]float32
	copy(out[:], data)
	return out
}

// linspace32 is torch.linspace(start, end, n, dtype=float32) by ATen's scalar formula (start +
// i·step, the second half counted back from end); its AVX path differs by an ulp at a few points.
func linspace32(start, end float32, n int) []float32 {
	out := make([]float32, n)
	step := (end - start) / float32(n-1)
	half := n / 2
	for i := range out {
		if i < half {
			out[i] = start + step*float32(i)
		} else {
			out[i] = end - step*float32(n-1-i)
		}
	}
	return out
}

// quantizeBlockwise is bitsandbytes quantize_blockwise(x, code=DynamicMap, blocksize): per
// block the absmax, each value scaled into [-1, 1] and mapped to the nearest code (the lower
// one on a tie, as argmin picks the first).
func quantizeBlockwise(x []float32, blocksize int) (codes []byte, absmax []float32) {
	codes = make([]byte, len(x))
	absmax = make([]float32, (len(x)+blocksize-1)/blocksize)
	for b := range absmax {
		block := x[b*blocksize : min((b+1)*blocksize, len(x))]
		absmax[b] = absMax(block)
		inv := float32(0)
		if absmax[b] != 0 {
			inv = 1 / absmax[b]
		}
		for j, v := range block {
			codes[b*blocksize+j] = nearestDynamic(min(max(v*inv, -1), 1))
		}
	}
	return codes, absmax
}

func nearestDynamic(x float32) byte {
	i := sort.Search(256, func(i int) bool { return DynamicMap[i] >= x })
	switch {
	case i == 256:
		return 255
	case i == 0:
		return 0
	}
	// DynamicMap[i-1] < x <= DynamicMap[i]: the lower code wins a tie.
	if x-DynamicMap[i-1] <= DynamicMap[i]-x {
		return byte(i - 1)
	}
	return byte(i)
}

func dequantizeBlockwise(codes []byte, absmax []float32, blocksize int) []float32 {
	out := make([]float32, len(codes))
	for i, c := range codes {
		out[i] = DynamicMap[c] * absmax[i/blocksize]
	}
	return out
}
