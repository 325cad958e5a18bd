// Starts one of Gerrit's programs (com.google.gerrit.pgm.<Name>, e.g. Init or Daemon) from the jars on
// the class path, as the release war's own launcher would; "set-config" edits a git-config file in
// place with JGit, the library Gerrit itself reads it with, so the file keeps its other settings.
import java.io.File;
import java.util.Arrays;
import org.eclipse.jgit.storage.file.FileBasedConfig;
import org.eclipse.jgit.util.FS;

public final class GerritLaunch {
  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: GerritLaunch <Init|Daemon|...> [args] | set-config <file> (<section.key> <value>)...");
      System.exit(2);
    }
    if (args[0].equals("set-config")) {
      System.exit(setConfig(Arrays.copyOfRange(args, 1, args.length)));
    }
    Class<?> program = Class.forName("com.google.gerrit.pgm." + args[0]);
    Object instance = program.getDeclaredConstructor().newInstance();
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    // AbstractProgram's entry point is an instance method returning the exit code.
    int code = (Integer) program.getMethod("main", String[].class).invoke(instance, (Object) rest);
    System.exit(code);
  }

  private static int setConfig(String[] args) throws Exception {
    if (args.length < 1 || args.length % 2 != 1) {
      System.err.println("set-config: <file> then pairs of <section.key> <value>");
      return 2;
    }
    FileBasedConfig config = new FileBasedConfig(new File(args[0]), FS.DETECTED);
    config.load();
    for (int i = 1; i < args.length; i += 2) {
      String name = args[i];
      int dot = name.indexOf('.');
      if (dot <= 0 || dot == name.length() - 1 || name.indexOf('.', dot + 1) >= 0) {
        System.err.println("set-config: " + name + " is not <section>.<key>");
        return 2;
      }
      config.setString(name.substring(0, dot), null, name.substring(dot + 1), args[i + 1]);
    }
    config.save();
    return 0;
  }
}
