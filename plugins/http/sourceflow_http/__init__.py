"""sourceflow plugin for Adobe Experience Platform's HTTP API streaming source."""
