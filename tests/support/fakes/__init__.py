"""Local fakes of vendor APIs, driven through the real SDKs (habit 8: fakes over mocks)."""
