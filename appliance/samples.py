"""Re-export of the sample contract, which lives in :mod:`drivers.samples`."""

from drivers.samples import Quality, Sample, SampleBus, SampleSink, Value, now_pair

__all__ = ["Quality", "Sample", "SampleBus", "SampleSink", "Value", "now_pair"]
