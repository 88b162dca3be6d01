// The vm-fork suite again, with every engine's inventory on a throwaway PostgreSQL cluster.
import { useInventory } from "../support/test-inventory";

useInventory("postgres");
require("../e2e/vm-fork.test");
