//go:build testcomponents

package main

const withTestComponents = true
