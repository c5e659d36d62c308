"""Developer tools that are not part of the installable package: the demo day and the benchmark."""
