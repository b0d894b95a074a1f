"""The Telco Connectivity Manager: SRv6 service chains through host-based routers (HBRs)."""
