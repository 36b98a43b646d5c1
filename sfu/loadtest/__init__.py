"""Load testing: simulated WebRTC peers whose media is generated and checked in C."""
