"""Run orchestration: creating runs from plans today; the durable run loop comes with the Supervisor."""
