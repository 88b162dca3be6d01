// The change-jobs suite again, with every engine's inventory on a throwaway PostgreSQL cluster.
import { useInventory } from "../support/test-inventory";

useInventory("postgres");
require("../e2e/change-jobs.test");
