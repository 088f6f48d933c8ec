// Package analytics keeps per-book sales statistics (units sold, net
// revenue, number of sales, first and last sale) and daily rollups, built by
// a projection of sale events.
package analytics
