"""The runner: chapters as notebooks, the book build, sweeps, parallel execution and the results computation."""
