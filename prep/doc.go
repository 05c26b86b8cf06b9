// Package prep turns labelled review files into Alpaca instruction records and a held-out split.
//
// Readers (Open, NewReader) stream CSV/TSV, JSON arrays, JSON Lines, Parquet
// and Alpaca files as records with constant memory; CleanText and
// NormalizeLabel hold the cleaning and label rules; Run is the whole
// prep command.
package prep
